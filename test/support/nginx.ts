/**
 * A real nginx (Debian's /usr/sbin/nginx) on 127.0.0.1 for tests: `startNginx(servers)` writes a config with the
 * given `server { }` blocks (each gets a free port for `{{port}}`), checks it with `nginx -t`, runs nginx in the
 * foreground as a child of the test (pid, logs and temp files in a temp folder) and waits until every port answers.
 */
import { execFile, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

export const NGINX = '/usr/sbin/nginx'
const run = promisify(execFile)

export interface RunningNginx {
  /** One origin per server block, in order. */
  origins: string[]
  work: string
  stop(): Promise<void>
}

export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/** `nginx -t` on an http-level config snippet; resolves to nginx's verdict (stderr), rejects with it on failure. */
export async function nginxTest(httpBody: string): Promise<string> {
  const work = await mkdtemp(join(tmpdir(), 'csp-seal-nginx-t-'))
  try {
    const conf = await writeConfig(work, httpBody)
    const result = await run(NGINX, ['-t', '-p', work, '-c', conf, '-e', join(work, 'error.log')]).catch((error: { stderr: string }) => {
      throw new Error(`nginx -t rejected the config:\n${error.stderr}\n${httpBody}`)
    })
    return result.stderr
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}

export async function startNginx(servers: string[]): Promise<RunningNginx> {
  if (!existsSync(NGINX)) throw new Error(`${NGINX} not found: these tests run a real nginx. Install it with: apt-get install -y nginx`)
  const work = await mkdtemp(join(tmpdir(), 'csp-seal-nginx-'))
  // nginx workers run as an unprivileged user when started by root: they must be able to read everything.
  await chmod(work, 0o755)
  const ports = await Promise.all(servers.map(() => freePort()))
  const conf = await writeConfig(work, servers.map((server, i) => server.replaceAll('{{port}}', String(ports[i]))).join('\n'))
  const args = ['-p', work, '-c', conf, '-e', join(work, 'error.log')]
  await run(NGINX, ['-t', ...args]).catch(async (error: { stderr: string }) => {
    throw new Error(`nginx -t rejected the config:\n${error.stderr}\n${await readFile(conf, 'utf8')}`)
  })
  const child = spawn(NGINX, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk))
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk))
  const origins = ports.map((port) => `http://127.0.0.1:${port}`)
  const stop = async () => {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await exited
    }
    await rm(work, { recursive: true, force: true })
  }
  for (const origin of origins) {
    for (let i = 0; ; i++) {
      if (child.exitCode !== null)
        throw new Error(`nginx exited (${child.exitCode}):\n${output}\n${await readFile(join(work, 'error.log'), 'utf8').catch(() => '')}`)
      if (
        await fetch(`${origin}/`).then(
          () => true,
          () => false,
        )
      )
        break
      if (i > 600) {
        await stop()
        throw new Error(`nginx did not listen on ${origin}:\n${output}`)
      }
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
  return { origins, work, stop }
}

async function writeConfig(work: string, httpBody: string): Promise<string> {
  await mkdir(join(work, 'tmp'), { recursive: true })
  const conf = join(work, 'nginx.conf')
  await writeFile(
    conf,
    `daemon off;
worker_processes 1;
pid ${join(work, 'nginx.pid')};
error_log ${join(work, 'error.log')} warn;
events { worker_connections 256; }
http {
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  access_log off;
  client_body_temp_path ${join(work, 'tmp', 'body')};
  proxy_temp_path ${join(work, 'tmp', 'proxy')};
  fastcgi_temp_path ${join(work, 'tmp', 'fastcgi')};
  uwsgi_temp_path ${join(work, 'tmp', 'uwsgi')};
  scgi_temp_path ${join(work, 'tmp', 'scgi')};
${httpBody}
}
`,
  )
  return conf
}
