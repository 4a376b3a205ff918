// @sluice/dashboard: Sluice's web dashboard as a Fetch handler, with helpers to serve it.
export { createDashboard } from './create-dashboard.js';
export type { DashboardOptions, DashboardHandler } from './create-dashboard.js';
export { basicAuth, bearerToken, anyOf } from './auth.js';
export type { Authorize, Role, Identity, BasicUser } from './auth.js';
export { nodeListener, serveDashboard } from './serve.js';
export type { DashboardServer } from './serve.js';
