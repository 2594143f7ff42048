// Package metrics holds the sidecar's Prometheus collectors, registered on a
// registry that the caller owns (tests pass a fresh one; nothing touches the
// global registry). Labels stay low-cardinality: app and endpoint as
// registered by handlers, never a request id or a sender.
package metrics

import (
	"runtime"
	"strconv"

	"github.com/openmined/syft-sidecar/internal/events"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Namespace prefixes every metric name.
const Namespace = "syft_sidecar"

// UnknownEndpoint labels requests for endpoints no handler declared, so that
// senders cannot mint label values.
const UnknownEndpoint = "_unknown"

// RegisterBuildInfo exports syft_sidecar_build_info, 1 with the version and
// the Go it was built with as labels, as Prometheus's own build_info does:
// a dashboard joins it to tell which sidecars run which build.
func RegisterBuildInfo(reg prometheus.Registerer, version string) {
	promauto.With(reg).NewGaugeVec(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "build_info",
		Help: "Always 1; the labels say which build of the sidecar runs.",
	}, []string{"version", "goversion"}).WithLabelValues(version, runtime.Version()).Set(1)
}

// Metrics are the sidecar's collectors.
type Metrics struct {
	RequestsReceived    *prometheus.CounterVec
	ResponsesWritten    *prometheus.CounterVec
	RequestsExpired     *prometheus.CounterVec
	RequestsIgnored     *prometheus.CounterVec
	RequestsRedelivered *prometheus.CounterVec
	RequestDuration     *prometheus.HistogramVec
	RequestsInFlight    *prometheus.GaugeVec
	RequestsWaiting     *prometheus.GaugeVec
	HandlerStreams      prometheus.Gauge
	StaleReplies        prometheus.Counter
	WatcherRescans      *prometheus.CounterVec
	WatcherOverflows    prometheus.Counter
	UnwatchedFolders    *prometheus.GaugeVec
	WriteErrors         prometheus.Counter
	WriteRetries        prometheus.Counter
	ResponsesLost       prometheus.Counter
	WritesWaiting       prometheus.Gauge
	CleanupRuns         *prometheus.CounterVec
	CleanupFilesDeleted *prometheus.CounterVec
	CleanupErrors       *prometheus.CounterVec
	AuthRefused         prometheus.Counter
	EventsEmitted       *prometheus.CounterVec
	EventsDropped       prometheus.Counter
	EventSubscribers    prometheus.Gauge
}

// New registers the collectors on reg.
func New(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	ae := []string{"app", "endpoint"}
	return &Metrics{
		RequestsReceived: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "requests_received_total",
			Help: "Request files taken for an app the sidecar serves, whatever their answer (a handler's, or 400, 403, 404, 413, 419).",
		}, ae),
		RequestsIgnored: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "requests_ignored_total",
			Help: "Files named *.request in an app's rpc folder that cannot be answered and are left alone, by reason (not_regular: a FIFO, folder or device; name_too_long: the response name would pass 255 bytes; not_utf8: a path that is not UTF-8; bad_path: no endpoint and sender layout).",
		}, []string{"reason"}),
		ResponsesWritten: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "responses_written_total",
			Help: "Response files written, by status code.",
		}, []string{"app", "endpoint", "code"}),
		RequestsExpired: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "requests_expired_total",
			Help: "Requests answered 419 because they expired before a handler took them.",
		}, ae),
		RequestsRedelivered: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "requests_redelivered_total",
			Help: "Requests handed out again after the stream that held them ended.",
		}, ae),
		RequestDuration: f.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "request_duration_seconds",
			Help:    "Time from a request file being seen to its response being on disk.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, ae),
		RequestsInFlight: f.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "requests_in_flight",
			Help: "Requests sent to a handler and not yet answered.",
		}, ae),
		RequestsWaiting: f.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "requests_waiting",
			Help: "Requests waiting for a handler with free capacity.",
		}, ae),
		HandlerStreams: f.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "handler_streams",
			Help: "Handler streams connected.",
		}),
		StaleReplies: f.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "stale_replies_total",
			Help: "Replies dropped because their request was already answered, timed out or redelivered.",
		}),
		WatcherRescans: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "watcher_rescans_total",
			Help: "Full rescans of the watched trees, by reason.",
		}, []string{"reason"}),
		WatcherOverflows: f.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "watcher_overflows_total",
			Help: "Kernel event queue overflows (events were lost and a rescan followed).",
		}),
		UnwatchedFolders: f.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "watcher_unwatched_folders",
			Help: "Folders that cannot be watched (inotify watch limit: fs.inotify.max_user_watches); they are polled, and file events from them are reported as missed.",
		}, []string{"watcher"}),
		WriteErrors: f.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "response_write_errors_total",
			Help: "Response writes that failed (each attempt).",
		}),
		WriteRetries: f.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "response_write_retries_total",
			Help: "Response writes tried again after a failure (a full disk, say); the reply is kept until it is written or its request expires.",
		}),
		ResponsesLost: f.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "responses_lost_total",
			Help: "Responses removed while their request stayed (the SyftBox client removes a response whose upload its server dropped); each such request is answered again.",
		}),
		WritesWaiting: f.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "response_writes_waiting",
			Help: "Responses whose write failed, kept to be tried again.",
		}),
		CleanupRuns: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "cleanup_runs_total",
			Help: "Cleanup runs over an app's rpc folder.",
		}, []string{"app"}),
		CleanupFilesDeleted: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "cleanup_files_deleted_total",
			Help: "Files removed by cleanup, by kind (request, response, orphan_response, rejected, tmp).",
		}, []string{"app", "kind"}),
		CleanupErrors: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "cleanup_errors_total",
			Help: "Files cleanup could not read or remove.",
		}, []string{"app"}),
		AuthRefused: f.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "auth_refused_total",
			Help: "gRPC calls refused for a missing or wrong token.",
		}),
		EventsEmitted: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "events_emitted_total",
			Help: "File and listener events recorded, by kind (CREATE, MODIFY, DELETE, MOVE, SHARE, CUSTOM).",
		}, []string{"kind"}),
		EventsDropped: f.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "events_dropped_total",
			Help: "Events a subscriber was too slow to take (it is told which it lost).",
		}),
		EventSubscribers: f.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "event_subscribers",
			Help: "Watches and listeners of connected handlers.",
		}),
	}
}

// Rescan implements watcher.Stats.
func (m *Metrics) Rescan(reason string) { m.WatcherRescans.WithLabelValues(reason).Inc() }

// Overflow implements watcher.Stats.
func (m *Metrics) Overflow() { m.WatcherOverflows.Inc() }

// Unwatched implements watcher.Stats for the request watcher; the event
// watcher reports through UnwatchedFolders' "events" label.
func (m *Metrics) Unwatched(n int) { m.UnwatchedFolders.WithLabelValues("requests").Set(float64(n)) }

// Endpoint holds one endpoint's collectors, looked up once so the hot path
// does no label hashing.
type Endpoint struct {
	m         *Metrics
	app, path string
	Received  prometheus.Counter
	Expired   prometheus.Counter
	Redeliver prometheus.Counter
	Duration  prometheus.Observer
	InFlight  prometheus.Gauge
	Waiting   prometheus.Gauge
}

// ForEndpoint returns the collectors of one endpoint.
func (m *Metrics) ForEndpoint(app, endpoint string) *Endpoint {
	return &Endpoint{
		m: m, app: app, path: endpoint,
		Received:  m.RequestsReceived.WithLabelValues(app, endpoint),
		Expired:   m.RequestsExpired.WithLabelValues(app, endpoint),
		Redeliver: m.RequestsRedelivered.WithLabelValues(app, endpoint),
		Duration:  m.RequestDuration.WithLabelValues(app, endpoint),
		InFlight:  m.RequestsInFlight.WithLabelValues(app, endpoint),
		Waiting:   m.RequestsWaiting.WithLabelValues(app, endpoint),
	}
}

// Written returns the responses counter for one status code.
func (e *Endpoint) Written(code int) prometheus.Counter {
	return e.m.ResponsesWritten.WithLabelValues(e.app, e.path, strconv.Itoa(code))
}

// Emitted implements events.Stats.
func (m *Metrics) Emitted(kind events.Kind) { m.EventsEmitted.WithLabelValues(string(kind)).Inc() }

// Dropped implements events.Stats.
func (m *Metrics) Dropped() { m.EventsDropped.Inc() }

// Subscribers implements events.Stats.
func (m *Metrics) Subscribers(n int) { m.EventSubscribers.Set(float64(n)) }
