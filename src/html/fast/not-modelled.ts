/**
 * Thrown where a page holds a construct the fast scanner's model of the tree builder does not follow (foster
 * parenting, the adoption agency moving elements, framesets…): the page is then scanned from parse5's tree, and the
 * message says why.
 */
export class NotModelled extends Error {}
