/**
 * Base of every error pvswarm throws on purpose. Each failure a caller can act
 * on has its own subclass with a stable `name`, so callers match on `.name`
 * (or `instanceof`) rather than on message text.
 */
export class PvswarmError extends Error {
  static override readonly name: string = 'PvswarmError'

  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = (this.constructor as typeof PvswarmError).name
  }
}
