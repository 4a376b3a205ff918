// `sluice/metrics`: Prometheus metrics for workers and dashboards (prom-client, optional peer).
export { createMetrics } from './prometheus.js';
export type { Metrics, MetricsOptions } from './prometheus.js';
