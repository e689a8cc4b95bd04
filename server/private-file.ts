// Files the CLI writes (recordings, run summaries, trace exports) are created, never
// followed: they often go to shared directories like /tmp, where another user may have
// planted a symbolic link to one of our files, or a file of theirs that they can read. So a
// file is opened with O_CREAT|O_EXCL|O_NOFOLLOW and born 0600 (recordings and summaries carry
// command lines); anything already at the path is refused with what it is. An existing
// regular file of our own is replaced only when asked (--overwrite), and then by a new file
// renamed over it: the old inode, which others may hold open, never receives our data, and
// rename(2) replaces a link itself rather than what it points to.
import fs from 'node:fs'
import path from 'node:path'
import { errors } from './errors'

const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants
const CREATE = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW

export interface PrivateFileOptions {
  overwrite?: boolean // replace an existing regular file owned by this user
  what: string // how the file is named in errors: "--record run.gwrec"
}

const euid = () => (process.geteuid ? process.geteuid() : 0)

// Opens `file` for writing as a new private file and returns its descriptor.
export function createPrivateFile (file: string, { overwrite = false, what }: PrivateFileOptions): number {
  try {
    return born(fs.openSync(file, CREATE, 0o600))
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code !== 'EEXIST' && code !== 'ELOOP') throw errors.unsafeOutputFile(`${what}: cannot create it: ${(error as Error).message}`)
  }
  const existing = describeExisting(file)
  if (existing) throw errors.unsafeOutputFile(`${what}: ${file} ${existing}; gilwatch only writes files it creates: choose another path`)
  if (!overwrite) throw errors.unsafeOutputFile(`${what}: ${file} already exists: give --overwrite to replace it, or choose another path`)
  return replace(file, what)
}

// Why an existing path must not be written to, or null for a regular file of our own.
function describeExisting (file: string): string | null {
  let st: fs.Stats
  try {
    st = fs.lstatSync(file)
  } catch (error) {
    return `could not be examined (${(error as Error).message})`
  }
  if (st.isSymbolicLink()) return 'is a symbolic link'
  if (!st.isFile()) return 'exists and is not a regular file'
  if (st.uid !== euid()) return `belongs to uid ${st.uid}, not to you (uid ${euid()})`
  return null
}

function replace (file: string, what: string): number {
  const dir = path.dirname(file)
  for (let attempt = 0; ; attempt++) {
    const temporary = path.join(dir, `.${path.basename(file)}.${process.pid}.${attempt}.tmp`)
    let fd: number
    try {
      fd = born(fs.openSync(temporary, CREATE, 0o600))
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST' && attempt < 100) continue
      throw errors.unsafeOutputFile(`${what}: cannot create a file beside ${file}: ${(error as Error).message}`)
    }
    try {
      fs.renameSync(temporary, file)
    } catch (error) {
      fs.closeSync(fd)
      fs.rmSync(temporary, { force: true })
      throw errors.unsafeOutputFile(`${what}: cannot replace ${file}: ${(error as Error).message}`)
    }
    return fd
  }
}

// The umask cannot have widened 0600, but it may have narrowed it below what we need.
function born (fd: number): number {
  fs.fchmodSync(fd, 0o600)
  return fd
}
