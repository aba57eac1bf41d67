// eaos-server --help, one group: dynamic batching and the queue.
#include "server/flags/flags.h"

ABSL_FLAG(int, max_batch_size, 64, "Most items in one batch; 1 turns batching off");
ABSL_FLAG(int, max_batch_tokens, 0,
          "Most tokens in one batch, counted as rows x longest row (padding included); 0 = derive "
          "it at startup from measured memory (--memory_fraction of the available memory)");
ABSL_FLAG(absl::Duration, max_queue_delay, absl::Milliseconds(5),
          "Longest an item waits for its batch to fill");
ABSL_FLAG(int, max_queue_items, 20000,
          "Items waiting at most; beyond it calls get RESOURCE_EXHAUSTED");
ABSL_FLAG(int, batch_lookahead, 0,
          "Queued items, from the oldest, a batch may be picked from (nearest in length to the "
          "oldest first); at least max_batch_size; 0 = 4 x max_batch_size");
ABSL_FLAG(int, batch_overhead_tokens, 64,
          "Fixed cost of a forward pass in tokens' worth of compute: an item joins a batch only "
          "if real tokens per unit of cost do not drop (0: join while the limits allow)");
