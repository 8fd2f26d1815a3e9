export * from './prepare-dispatch.js'
