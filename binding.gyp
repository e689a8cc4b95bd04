{
  "variables": {
    "nvtx_include%": "<!(node scripts/find-nvtx.js)"
  },
  "target_defaults": {
    "include_dirs": ["native/protocol"]
  },
  "targets": [
    {
      # The server's hot path: frame decoding and aggregation.
      "target_name": "gilwatch_addon",
      "sources": [
        "native/addon/addon.cc",
        "native/addon/api_views.cc",
        "native/addon/decoder.cc",
        "native/addon/history.cc",
        "native/addon/layouts.cc",
        "native/addon/long_holds.cc",
        "native/addon/metrics_view.cc",
        "native/addon/peer.cc",
        "native/addon/process_views.cc",
        "native/addon/series_rows.cc",
        "native/addon/services.cc",
        "native/addon/shared_region.cc",
        "native/addon/store.cc",
        "native/addon/store_causes.cc",
        "native/addon/store_gil.cc",
        "native/addon/store_records.cc",
        "native/addon/store_regions.cc",
        "native/addon/string_table.cc",
        "native/addon/thread_table.cc",
        "native/addon/timeline.cc",
        "native/addon/worst_holds.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-O3", "-Wall", "-Wextra", "-Wno-missing-field-initializers"]
    },
    {
      # The NVTX injection library loaded into monitored processes (NVTX_INJECTION64_PATH).
      "target_name": "gilwatch_nvtx",
      "type": "shared_library",
      "sources": [
        "native/layout/cpython_layout.c",
        "native/injection/clock.c",
        "native/injection/config.c",
        "native/injection/frame_reader.c",
        "native/injection/frames.c",
        "native/injection/gil_totals.c",
        "native/injection/handlers.c",
        "native/injection/init.c",
        "native/injection/intern.c",
        "native/injection/python_frames.c",
        "native/injection/sampler.c",
        "native/injection/sender.c",
        "native/injection/shared_totals.c",
        "native/injection/socket_path.c",
        "native/injection/thread_proc.c",
        "native/injection/threads.c",
        "native/injection/transport.c"
      ],
      "include_dirs": ["<(nvtx_include)"],
      "defines": ["_GNU_SOURCE"],
      "cflags": ["-std=gnu11", "-O2", "-flto", "-fPIC", "-fvisibility=hidden", "-Wall", "-Wextra"],
      "ldflags": ["-pthread", "-O2", "-flto", "-flto-partition=one", "-Wl,--no-undefined", "-Wl,-z,nodelete"],
      "libraries": ["-ldl", "-lpthread"]
    },
    {
      # LD_PRELOAD probe for stock CPython: emits the GIL ranges through NVTX.
      "target_name": "gilwatch_probe",
      "type": "shared_library",
      "sources": [
        "native/layout/cpython_layout.c",
        "native/probe/gils.c",
        "native/probe/interpose.c",
        "native/probe/python_version.c",
        "native/probe/transitions.c"
      ],
      "include_dirs": ["<(nvtx_include)"],
      "defines": ["_GNU_SOURCE"],
      "cflags": ["-std=gnu11", "-O2", "-flto", "-fPIC", "-fvisibility=hidden", "-Wall", "-Wextra"],
      "ldflags": ["-pthread", "-O2", "-flto", "-flto-partition=one", "-Wl,--no-undefined", "-Wl,-z,nodelete"],
      "libraries": ["-ldl", "-lpthread"]
    }
  ]
}
