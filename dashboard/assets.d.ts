// CSS is bundled by esbuild.
declare module '*.css'
