/** The monitor's moving parts: the topic follower, the consumer-lag poller, the HTTP/SSE server, JSON encoding and the PNG chart writer. */
package io.streamtrain.monitor.internal;
