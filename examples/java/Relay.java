import com.sun.net.httpserver.HttpServer;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

/**
 * A tiny Java service between two others: forwards each request to NEXT_URL (same method,
 * path, query and body) and returns the downstream reply. Nothing here touches the trace or
 * the baggage: run under the OpenTelemetry Java agent, which instruments HttpServer and
 * HttpClient and carries both across.
 */
public final class Relay {
  public static void main(String[] args) throws Exception {
    String next = System.getenv("NEXT_URL");
    if (next == null || next.isEmpty()) throw new IllegalArgumentException("NEXT_URL is required");
    int port = Integer.parseInt(System.getenv().getOrDefault("PORT", "0"));
    // A new connection for each request, asked for with `Connection: close` (a header the
    // client refuses unless allowed, before its first use). A relay must not replay a POST, so
    // it must not send one on an idle connection that the next service may be closing at that
    // moment (its keep-alive timeout): the request would fail. JDK 17 still reuses idle
    // connections with jdk.httpclient.keepalive.timeout=0.
    System.setProperty("jdk.httpclient.allowRestrictedHeaders", "connection");
    HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 0);
    server.createContext("/", exchange -> {
      try {
        HttpRequest.Builder out = HttpRequest.newBuilder(URI.create(next + exchange.getRequestURI()))
            .timeout(Duration.ofSeconds(60))
            .header("Connection", "close")
            .method(exchange.getRequestMethod(),
                HttpRequest.BodyPublishers.ofByteArray(exchange.getRequestBody().readAllBytes()));
        String type = exchange.getRequestHeaders().getFirst("Content-Type");
        if (type != null) out.header("Content-Type", type);
        HttpResponse<byte[]> reply = client.send(out.build(), HttpResponse.BodyHandlers.ofByteArray());
        reply.headers().firstValue("Content-Type")
            .ifPresent(value -> exchange.getResponseHeaders().set("Content-Type", value));
        byte[] body = reply.body();
        exchange.sendResponseHeaders(reply.statusCode(), body.length == 0 ? -1 : body.length);
        exchange.getResponseBody().write(body);
      } catch (Exception error) {
        byte[] body = String.valueOf(error).getBytes(java.nio.charset.StandardCharsets.UTF_8);
        exchange.sendResponseHeaders(502, body.length);
        exchange.getResponseBody().write(body);
      } finally {
        exchange.close();
      }
    });
    server.start();
    // The parent reads this line to learn the port (PORT may ask for port 0).
    System.out.println("listening on " + server.getAddress().getPort());
  }
}
