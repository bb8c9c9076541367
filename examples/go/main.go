// Command go-relay is a tiny Go service between two others: it forwards each request it
// receives to NEXT_URL (same method, path, query and body) and returns the downstream
// reply. The OpenTelemetry Go SDK carries the trace and W3C baggage across it:
// otelhttp.NewHandler extracts them from the incoming request, otelhttp.NewTransport
// injects them into the outgoing one. No code here reads or writes baggage.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

func main() {
	next := os.Getenv("NEXT_URL")
	if next == "" {
		log.Fatal("NEXT_URL is required: the URL this relay forwards to")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// The global propagator is a no-op until set: without this line nothing is carried.
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(
		propagation.TraceContext{}, propagation.Baggage{}))
	provider, err := tracerProvider(ctx)
	if err != nil {
		log.Fatalf("tracing: %v", err)
	}
	otel.SetTracerProvider(provider)

	listener, err := net.Listen("tcp", envOr("LISTEN", "127.0.0.1:0"))
	if err != nil {
		log.Fatalf("listen: %v", err)
	}
	server := &http.Server{
		Handler:           otelhttp.NewHandler(relay(next), "relay"),
		ReadHeaderTimeout: 10 * time.Second,
	}
	// The parent reads this line to learn the port (LISTEN may ask for port 0).
	fmt.Printf("listening on %d\n", listener.Addr().(*net.TCPAddr).Port)
	go func() {
		if err := server.Serve(listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Fatalf("serve: %v", err)
		}
	}()
	<-ctx.Done()
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = server.Shutdown(shutdown)
	_ = provider.Shutdown(shutdown) // flushes the spans not yet exported
}

// tracerProvider exports spans by OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set; the
// service name comes from OTEL_SERVICE_NAME, read by the SDK's default resource.
func tracerProvider(ctx context.Context) (*sdktrace.TracerProvider, error) {
	if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" {
		return sdktrace.NewTracerProvider(), nil
	}
	exporter, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, err
	}
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter)), nil
}

// relay forwards the request to next + its path and query, under the request's context,
// so the transport injects the trace and the baggage this hop extracted.
func relay(next string) http.Handler {
	// A new connection for each request: a relay must not replay a POST, so it must not
	// send one on an idle connection that the next service may be closing at that moment
	// (its keep-alive timeout), which fails the request with EOF.
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.DisableKeepAlives = true
	client := &http.Client{Transport: otelhttp.NewTransport(transport), Timeout: 60 * time.Second}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out, err := http.NewRequestWithContext(r.Context(), r.Method, next+r.URL.RequestURI(), r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		out.ContentLength = r.ContentLength // not chunked when the caller gave a length
		copyHeader(out.Header, r.Header, "Content-Type")
		reply, err := client.Do(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer reply.Body.Close()
		copyHeader(w.Header(), reply.Header, "Content-Type")
		w.WriteHeader(reply.StatusCode)
		_, _ = io.Copy(w, reply.Body)
	})
}

func copyHeader(to, from http.Header, name string) {
	if value := from.Get(name); value != "" {
		to.Set(name, value)
	}
}

func envOr(name, fallback string) string {
	if value := os.Getenv(name); value != "" {
		return value
	}
	return fallback
}
