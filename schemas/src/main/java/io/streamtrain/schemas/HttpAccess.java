package io.streamtrain.schemas;

import com.sun.net.httpserver.Authenticator;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpPrincipal;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Base64;
import org.apache.kafka.common.config.AbstractConfig;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigDef.Importance;
import org.apache.kafka.common.config.ConfigDef.Type;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.config.types.Password;

/**
 * Who may read our HTTP endpoints (the dashboard, the trainer's {@code /metrics}): they show training text and
 * numbers, so they listen on the loopback interface by default, and bound to any other address they require a token
 * ({@value #TOKEN}) unless {@value #ALLOW_UNAUTHENTICATED} says otherwise. A client sends the token as
 * {@code Authorization: Bearer TOKEN} (Prometheus' {@code authorization: credentials}) or as the password of basic
 * authentication with any user name (what a browser asks for).
 */
public final class HttpAccess extends Authenticator {
    public static final String TOKEN = "http.token";
    public static final String ALLOW_UNAUTHENTICATED = "http.allow.unauthenticated";
    private static final String REALM = "streamtrain";

    private final byte[] token;

    private HttpAccess(String token) {
        this.token = token.getBytes(StandardCharsets.UTF_8);
    }

    /** Adds {@value #TOKEN} and {@value #ALLOW_UNAUTHENTICATED} to a configuration's definition. */
    public static ConfigDef define(ConfigDef definition) {
        return definition
                .define(TOKEN, Type.PASSWORD, "", Importance.MEDIUM, "Token that HTTP clients must send (Authorization: "
                        + "Bearer TOKEN, or as the password of basic authentication, any user name); empty = none, "
                        + "allowed only on a loopback address or with " + ALLOW_UNAUTHENTICATED + ". Best set in the "
                        + "environment (STREAMTRAIN_HTTP_TOKEN) rather than on the command line.")
                .define(ALLOW_UNAUTHENTICATED, Type.BOOLEAN, false, Importance.LOW, "Serve without a token on an "
                        + "address other than loopback (e.g. inside a private container network): anyone who reaches "
                        + "the port reads the metrics and the generated and training text.");
    }

    /**
     * The access rule of {@code config}'s {@value #TOKEN} for a server bound to {@code host}.
     *
     * @throws ConfigException naming {@code hostKey} when {@code host} is not loopback, no token is set and
     *                         unauthenticated access was not allowed
     */
    public static HttpAccess of(AbstractConfig config, String hostKey, String host) {
        Password password = config.getPassword(TOKEN);
        String token = password == null ? "" : password.value();
        if (token.isEmpty() && !config.getBoolean(ALLOW_UNAUTHENTICATED) && !isLoopback(host)) {
            throw new ConfigException(hostKey, host, "an address other than loopback serves the training text and "
                    + "metrics to other machines: set " + TOKEN + " (e.g. STREAMTRAIN_HTTP_TOKEN) so that clients must "
                    + "send it, or " + ALLOW_UNAUTHENTICATED + "=true to serve without one");
        }
        return token(token);
    }

    /** Admits clients that send {@code token}; everyone when it is empty. */
    public static HttpAccess token(String token) {
        return new HttpAccess(token);
    }

    /** Whether {@code host} names only loopback addresses (127.0.0.1, ::1, localhost). */
    public static boolean isLoopback(String host) {
        try {
            for (InetAddress address : InetAddress.getAllByName(host)) {
                if (!address.isLoopbackAddress()) {
                    return false;
                }
            }
            return true;
        } catch (UnknownHostException e) {
            return false;
        }
    }

    /** Whether a token is required. */
    public boolean requiresToken() {
        return token.length > 0;
    }

    @Override
    public Result authenticate(HttpExchange exchange) {
        if (!requiresToken()) {
            return new Success(new HttpPrincipal("anonymous", REALM));
        }
        String header = exchange.getRequestHeaders().getFirst("Authorization");
        if (header != null) {
            String presented = null;
            if (header.regionMatches(true, 0, "Bearer ", 0, 7)) {
                presented = header.substring(7).trim();
            } else if (header.regionMatches(true, 0, "Basic ", 0, 6)) {
                try {
                    String decoded = new String(Base64.getDecoder().decode(header.substring(6).trim()), StandardCharsets.UTF_8);
                    presented = decoded.substring(decoded.indexOf(':') + 1);
                } catch (IllegalArgumentException e) {
                    presented = null;
                }
            }
            if (presented != null && MessageDigest.isEqual(token, presented.getBytes(StandardCharsets.UTF_8))) {
                return new Success(new HttpPrincipal("token", REALM));
            }
        }
        exchange.getResponseHeaders().set("WWW-Authenticate", "Basic realm=\"" + REALM + "\", charset=\"UTF-8\"");
        return new Retry(401);
    }
}
