// Package metrics defines the Prometheus metrics of oauth-callback-server.
// Names follow the Prometheus conventions: a oauth_callback_ namespace,
// _total for counters, _seconds for durations.
package metrics

import (
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

// Metrics holds every metric; the zero value is not usable, use New.
type Metrics struct {
	registry *prometheus.Registry

	callbacks    *prometheus.CounterVec
	takes        *prometheus.CounterVec
	waiters      prometheus.Gauge
	waitsRefused *prometheus.CounterVec
	wakeLatency  prometheus.Histogram
	storeLatency *prometheus.HistogramVec
	requests     *prometheus.CounterVec
	reqDuration  *prometheus.HistogramVec
	localLimits  prometheus.Counter
	apiRequests  *prometheus.CounterVec

	// Children resolved once: a label lookup hashes its values on every
	// call, and these are on every request's path.
	storeOps map[string]prometheus.Observer
}

// New returns the metrics registered on a registry of their own, with the
// Go runtime and process collectors. callbackOutcomes are every value the
// callbacks counter's outcome label can take (httpapi names them, from its
// table of outcomes): their series exist from the start, at 0, since
// increase() needs a sample before the first event to see it, and the
// chart's alerts and dashboard read them.
func New(callbackOutcomes ...string) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		registry: reg,
		callbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "oauth_callback_callbacks_received_total",
			Help: "Callbacks received from the identity provider, by outcome.",
		}, []string{"outcome"}),
		takes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "oauth_callback_takes_total",
			Help: "Answers to GET /api/callback/{state}, by HTTP status code (200 taken, 404 not yet or expired, 410 taken before).",
		}, []string{"code"}),
		waiters: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "oauth_callback_waiters",
			Help: "Long-poll requests waiting for a callback on this replica.",
		}),
		waitsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "oauth_callback_waits_refused_total",
			Help: "Long-polls answered at once like plain polls, by reason: waiters (OAUTH_CALLBACK_MAX_WAITERS held already), memory (the process nears its memory limit), draining.",
		}, []string{"reason"}),
		wakeLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "oauth_callback_wake_latency_seconds",
			Help:    "Time from a callback's arrival (on any replica) to a waiting long-poll receiving it.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		storeLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "oauth_callback_store_operation_duration_seconds",
			Help:    "Duration of store operations, by operation (register, start, status, cancel, put, take, pending, ping).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"operation"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "oauth_callback_http_requests_total",
			Help: "HTTP requests, by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		reqDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "oauth_callback_http_request_duration_seconds",
			Help:    "HTTP request duration, by route pattern (long-polls included).",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
		apiRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "oauth_callback_api_requests_total",
			Help: "Requests to /api that passed the token check, by app (the configured apps only: OAUTH_CALLBACK_API_TOKENS, _APPS_FILE), route pattern and status code: 429 an app over its rate limit, 503 over its share of the byte budget (or the store's).",
		}, []string{"app", "route", "code"}),
		localLimits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "oauth_callback_rate_limits_local_total",
			Help: "Requests whose rate limit this replica counted alone because the count shared on Redis could not be had (Redis gone or slow); with the memory store or OAUTH_CALLBACK_RATE_LIMIT_SHARED=false, limits are always per replica and not counted here.",
		}),
	}
	for _, outcome := range callbackOutcomes {
		m.callbacks.WithLabelValues(outcome)
	}
	for _, code := range []string{"200", "404", "410"} {
		m.takes.WithLabelValues(code)
	}
	for _, reason := range []string{"waiters", "memory", "draining"} {
		m.waitsRefused.WithLabelValues(reason)
	}
	m.storeOps = make(map[string]prometheus.Observer)
	for _, op := range []string{"register", "put", "take", "pending", "ping", "start", "status", "cancel"} {
		m.storeOps[op] = m.storeLatency.WithLabelValues(op)
	}
	reg.MustRegister(
		m.callbacks, m.takes, m.waiters, m.waitsRefused, m.wakeLatency, m.storeLatency, m.requests, m.reqDuration, m.localLimits, m.apiRequests,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Handler serves every metric in the Prometheus exposition format, the
// series of each app (labelled app) among them: for the operator's scrape,
// on the listener of its own (OAUTH_CALLBACK_METRICS_ADDR).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// HandlerWithoutApps serves the metrics less every series labelled app:
// for /metrics on the main listener, where any app's token reads it, and
// no app may read another's counts. What is left counts every app
// together, as /health's active_callbacks does.
func (m *Metrics) HandlerWithoutApps() http.Handler {
	return promhttp.HandlerFor(withoutAppSeries(m.registry), promhttp.HandlerOpts{})
}

// appLabel names the app a series counts.
const appLabel = "app"

// withoutAppSeries gathers from g and drops every series with an app label
// (and a family left with none). It goes by the label, not by metric
// names, so that a metric given an app label later is left out here too.
func withoutAppSeries(g prometheus.Gatherer) prometheus.Gatherer {
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		families, err := g.Gather() // fresh copies: ours to trim
		kept := families[:0]
		for _, f := range families {
			f.Metric = slices.DeleteFunc(f.Metric, func(s *dto.Metric) bool {
				return slices.ContainsFunc(s.GetLabel(), func(l *dto.LabelPair) bool { return l.GetName() == appLabel })
			})
			if len(f.Metric) > 0 {
				kept = append(kept, f)
			}
		}
		return kept, err
	})
}

// CallbackReceived counts one callback by outcome.
func (m *Metrics) CallbackReceived(outcome string) { m.callbacks.WithLabelValues(outcome).Inc() }

// Took counts one answer of the take API.
func (m *Metrics) Took(status int) { m.takes.WithLabelValues(strconv.Itoa(status)).Inc() }

// WaiterStarted and WaiterDone track long-polls in flight.
func (m *Metrics) WaiterStarted() { m.waiters.Inc() }
func (m *Metrics) WaiterDone()    { m.waiters.Dec() }

// WaitRefused counts a long-poll answered at once, by reason.
func (m *Metrics) WaitRefused(reason string) { m.waitsRefused.WithLabelValues(reason).Inc() }

// RateLimitCountedLocally counts a request whose limit was counted on this
// replica alone, the shared count on Redis being out of reach.
func (m *Metrics) RateLimitCountedLocally() { m.localLimits.Inc() }

// Woke records how long a callback took to reach its waiter.
func (m *Metrics) Woke(d time.Duration) { m.wakeLatency.Observe(d.Seconds()) }

// StoreOperation records one store call's duration.
func (m *Metrics) StoreOperation(op string, d time.Duration) {
	if o, ok := m.storeOps[op]; ok {
		o.Observe(d.Seconds())
		return
	}
	m.storeLatency.WithLabelValues(op).Observe(d.Seconds())
}

// APIRequest records one /api request of app, a configured app's name:
// requests cannot make label values of their own.
func (m *Metrics) APIRequest(app, route string, status int) {
	m.apiRequests.WithLabelValues(app, route, strconv.Itoa(status)).Inc()
}

// Request records one HTTP request.
func (m *Metrics) Request(route, method string, status int, d time.Duration) {
	switch method {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodOptions, http.MethodHead, http.MethodPatch:
	default:
		method = "other" // clients choose methods; labels must stay bounded
	}
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.reqDuration.WithLabelValues(route).Observe(d.Seconds())
}
