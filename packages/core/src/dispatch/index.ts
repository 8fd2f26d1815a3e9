export * from './prepare-dispatch.js'
export * from './user-ids.js'
