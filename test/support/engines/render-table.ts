/**
 * `npm run browsers:table`: writes the support table into docs/browsers.md from the results the browser tests
 * left in node_modules/.cache/csp-seal/browsers/ (run them first: `npm test`, or the test files named in the table).
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { BEGIN, END, renderTable, RESULTS_DIR, TABLE_FILE, type Results } from './support-table.js'

let files: string[] = []
try {
  files = readdirSync(RESULTS_DIR).filter((f) => f.endsWith('.json'))
} catch {
  /* no results yet */
}
if (files.length === 0) {
  console.error(`No results in ${RESULTS_DIR}: run the browser tests first (npm test).`)
  process.exit(1)
}
const results = files.map((f) => JSON.parse(readFileSync(path.join(RESULTS_DIR, f), 'utf8')) as Results)
const doc = readFileSync(TABLE_FILE, 'utf8')
const start = doc.indexOf(BEGIN)
const end = doc.indexOf(END)
if (start === -1 || end === -1) {
  console.error(`${TABLE_FILE}: the support table's markers are missing`)
  process.exit(1)
}
writeFileSync(TABLE_FILE, `${doc.slice(0, start + BEGIN.length)}\n${renderTable(results)}\n${doc.slice(end)}`)
console.log(`${path.relative(process.cwd(), TABLE_FILE)}: table written from ${files.length} result file(s)`)
