// eaos-server --help, one group: per-request and per-connection limits.
#include "server/flags/flags.h"

ABSL_FLAG(int, max_items_per_request, 1000, "Items per Predict call or PredictStream message");
ABSL_FLAG(int, max_text_bytes, 16384, "Longest accepted text in bytes (longer: INVALID_ARGUMENT)");
ABSL_FLAG(int, max_message_bytes, 32 << 20,
          "Largest gRPC message, either direction (bigger: RESOURCE_EXHAUSTED before parsing)");
ABSL_FLAG(int, max_concurrent_streams, 256,
          "Calls open at once on one client connection; more wait in the client");
ABSL_FLAG(int, max_connections, 0,
          "Connections open at once on the gRPC port; more are closed at once, unserved "
          "(0: the open-file limit - 128 - limit/16)");
ABSL_FLAG(absl::Duration, keepalive_time, absl::Minutes(1),
          "Ping a connection idle this long; close it if the ping is not answered in time");
ABSL_FLAG(absl::Duration, keepalive_timeout, absl::Seconds(20),
          "How long a keepalive ping may go unanswered before the connection is closed");
ABSL_FLAG(absl::Duration, min_client_ping_interval, absl::Seconds(10),
          "Clients may ping at most this often while no call is open; more often is a strike");
ABSL_FLAG(int, max_ping_strikes, 2,
          "Pings too early before the connection is closed with GOAWAY ENHANCE_YOUR_CALM "
          "(0: unlimited)");
ABSL_FLAG(int, max_stream_in_flight, 2048,
          "Items of one stream queued or unsent at most; reading pauses beyond it");
ABSL_FLAG(int, max_metadata_bytes, 8192,
          "Largest request metadata (HPACK size) a call may carry; larger: RESOURCE_EXHAUSTED for "
          "that call alone");
ABSL_FLAG(int64_t, max_unsent_bytes, int64_t{256} << 20,
          "Bytes of answers held for streams whose clients have not read them, over all streams; "
          "past it the streams holding the most stop reading until their clients catch up");
