import { main } from '../../src/cli/main.js'

export interface CliRun {
  code: number
  /** What went to stdout. */
  out: string
  /** What went to stderr. */
  err: string
}

/** Runs the CLI in this process (what the bin runs), capturing stdout and stderr without colours. */
export async function cli(args: string[], { cwd = process.cwd(), tty = false } = {}): Promise<CliRun> {
  let out = ''
  let err = ''
  const plain = (text: string) => text.replace(/\x1b\[[0-9;]*m/g, '')
  const code = await main(args, { out: (text) => (out += plain(text)), err: (text) => (err += plain(text)), isTTY: tty, cwd })
  return { code, out, err }
}
