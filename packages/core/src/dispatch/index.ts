export * from './prepare-dispatch.js'
export * from './user-ids.js'
export * from './channels.js'
