#include "client/cpp/internal/stream_call.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/cpp/internal/status.h"

namespace eaos::client::internal {

StreamCall::StreamCall(eaos::v1::EaosService::StubInterface* stub, const StreamOptions& options,
                       bool wait_for_ready, bool keep_texts)
    : stub_(stub), options_(options), wait_for_ready_(wait_for_ready), keep_texts_(keep_texts) {}

absl::Status StreamCall::Run(const ItemSource& source, const ItemResultSink& sink) {
  sink_ = &sink;
  if (options_.deadline != absl::InfiniteFuture()) {
    context_.set_deadline(absl::ToChronoTime(options_.deadline));
  }
  context_.set_wait_for_ready(wait_for_ready_);

  stub_->async()->PredictStream(&context_, this);
  // The writes are started from this thread, outside the reactions: hold OnDone off until the
  // last one is started.
  AddHold();
  StartRead(&response_);
  StartCall();
  const bool source_exhausted = WriteAll(source);
  RemoveHold();

  done_.WaitForNotification();
  absl::MutexLock lock(&mu_);
  return FinalStatus(source_exhausted);
}

bool StreamCall::CanWrite() const {
  if (broken_) return true;  // wakes the writer to stop
  const size_t window = static_cast<size_t>(options_.max_in_flight);
  // Wait for room for a full message, so that messages stay full while the window is busy.
  const size_t wanted =
      static_cast<size_t>(std::min(options_.items_per_message, options_.max_in_flight));
  return !write_in_progress_ && in_flight_.size() + wanted <= window;
}

bool StreamCall::WriteAll(const ItemSource& source) {
  while (true) {
    size_t room;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &StreamCall::CanWrite));
      if (broken_) return false;
      room = static_cast<size_t>(options_.max_in_flight) - in_flight_.size();
    }

    // No write is in progress: request_ is ours again.
    request_.Clear();
    *request_.mutable_options() = options_.options;
    const size_t wanted = std::min(static_cast<size_t>(options_.items_per_message), room);
    std::vector<std::pair<uint64_t, eaos::v1::Item>> batch;
    batch.reserve(wanted);
    bool exhausted = false;
    while (batch.size() < wanted) {
      eaos::v1::Item item;
      if (!source(&item)) {
        exhausted = true;
        break;
      }
      const uint64_t wire_id = next_wire_id_++;
      eaos::v1::Item* wire_item = request_.add_items();
      wire_item->set_id(absl::StrCat(wire_id));
      if (keep_texts_) {
        wire_item->set_text(item.text());
      } else {
        wire_item->set_text(std::move(*item.mutable_text()));
        item.clear_text();
      }
      batch.emplace_back(wire_id, std::move(item));
    }

    if (batch.empty()) {  // exhausted, nothing left to send
      StartWritesDone();
      return true;
    }
    {
      absl::MutexLock lock(&mu_);
      // Registered before the write starts: a result can come back before OnWriteDone.
      for (auto& [wire_id, item] : batch) in_flight_.emplace(wire_id, std::move(item));
      sent_ += static_cast<int64_t>(batch.size());
      if (broken_) return false;  // the items count as unanswered in FinalStatus
      write_in_progress_ = true;
    }
    if (exhausted) {
      StartWriteLast(&request_, grpc::WriteOptions());
      return true;
    }
    StartWrite(&request_);
  }
}

void StreamCall::OnWriteDone(bool ok) {
  absl::MutexLock lock(&mu_);
  write_in_progress_ = false;
  if (!ok) broken_ = true;
}

void StreamCall::OnReadDone(bool ok) {
  if (!ok) {  // the server ended the stream (status follows in OnDone) or it broke
    absl::MutexLock lock(&mu_);
    broken_ = true;
    return;
  }

  std::vector<std::pair<eaos::v1::Item, eaos::v1::ItemResult>> answered;
  answered.reserve(response_.results_size());
  bool cancel = false;
  {
    absl::MutexLock lock(&mu_);
    for (eaos::v1::ItemResult& result : *response_.mutable_results()) {
      uint64_t wire_id = 0;
      auto it =
          absl::SimpleAtoi(result.id(), &wire_id) ? in_flight_.find(wire_id) : in_flight_.end();
      if (it == in_flight_.end()) {
        if (protocol_error_.ok()) {
          protocol_error_ = absl::InternalError(
              absl::StrCat("server sent a result for item id '", result.id(),
                           "', which is unknown or was already answered on this stream"));
          cancel = true;
        }
        continue;
      }
      answered.emplace_back(std::move(it->second), std::move(result));
      in_flight_.erase(it);
    }
  }
  if (cancel) context_.TryCancel();

  for (auto& [item, result] : answered) {
    result.set_id(item.id());
    (*sink_)(std::move(item), std::move(result));
  }
  response_.Clear();
  StartRead(&response_);
}

std::vector<eaos::v1::Item> StreamCall::TakeUnanswered() {
  absl::MutexLock lock(&mu_);
  std::vector<std::pair<uint64_t, eaos::v1::Item>> entries(
      std::make_move_iterator(in_flight_.begin()), std::make_move_iterator(in_flight_.end()));
  in_flight_.clear();
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<eaos::v1::Item> items;
  items.reserve(entries.size());
  for (auto& [wire_id, item] : entries) items.push_back(std::move(item));
  return items;
}

void StreamCall::OnDone(const grpc::Status& status) {
  {
    absl::MutexLock lock(&mu_);
    final_status_ = status;
  }
  done_.Notify();  // the owner may destroy this object from here on
}

absl::Status StreamCall::FinalStatus(bool source_exhausted) const {
  if (!protocol_error_.ok()) return protocol_error_;
  if (!final_status_.ok()) return ToAbslStatus(final_status_);
  if (!in_flight_.empty()) {
    return absl::DataLossError(absl::StrCat("server ended the stream OK with ", in_flight_.size(),
                                            " of ", sent_, " items unanswered"));
  }
  if (!source_exhausted) {
    return absl::InternalError("server ended the stream OK before the client finished sending");
  }
  return absl::OkStatus();
}

}  // namespace eaos::client::internal
