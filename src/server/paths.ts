export { isInside } from '../safe-fs.js'
