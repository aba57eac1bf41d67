// WorkItem: one item of a request on its way through the engine.
//
// What the scheduler orders by (scheduler::Item: length, deadline, flow, the caller's "gone" flag)
// plus what a runner needs to run and answer it. Every item the engine's scheduler holds is a
// WorkItem; the engine's runners turn scheduler::Item back into it with AsWorkItem.
//
// Thread-safety: an item belongs to one thread at a time (the caller, then the scheduler, then one
// runner); `done` runs once, on the runner that took the item.
#ifndef EAOS_SERVER_ENGINE_WORK_ITEM_H_
#define EAOS_SERVER_ENGINE_WORK_ITEM_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "eaos/v1/eaos.pb.h"
#include "server/scheduler/scheduler.h"
#include "server/text/tokenizer.h"

namespace eaos::engine {

struct WorkItem final : scheduler::Item {
  std::string id;
  std::string text;
  text::Encoding encoding;
  float threshold = 0.5f;
  using Done = std::function<void(absl::StatusOr<v1::ItemResult>)>;
  // Called exactly once with the item's result or error, on a runner thread, with no lock of the
  // engine or the scheduler held; it must not block. Not called when Submit refuses the item (the
  // caller answers it then).
  Done done;
};

inline WorkItem& AsWorkItem(scheduler::Item& item) { return static_cast<WorkItem&>(item); }

}  // namespace eaos::engine

#endif  // EAOS_SERVER_ENGINE_WORK_ITEM_H_
