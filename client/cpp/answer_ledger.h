// AnswerLedger: exactly-once bookkeeping for callers that must prove every item they sent got one
// answer — a result or an explicit error status — never none, never two.
//
// Record each id when it is sent and each answer as it arrives (a whole call that fails answers
// all of its items with the call's code); Check() then lists what broke the rule. Load tests,
// batch jobs and the reliability tests use it the same way.
//
// Thread-safety: every method may be called from any thread at once.
//
//   AnswerLedger ledger;
//   ledger.Sent("item-1");
//   ledger.Answered("item-1", absl::StatusCode::kOk);
//   AnswerLedger::Report report = ledger.Check();
//   EXPECT_TRUE(report.ok()) << report.ToString();
#ifndef EAOS_CLIENT_CPP_ANSWER_LEDGER_H_
#define EAOS_CLIENT_CPP_ANSWER_LEDGER_H_

#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace eaos::client {

class AnswerLedger {
 public:
  struct Report {
    int64_t sent = 0;
    int64_t answered = 0;    // items with at least one answer
    int64_t duplicates = 0;  // answers beyond the first, over all items
    int64_t unknown = 0;     // answers for ids never sent
    int64_t resent = 0;      // ids recorded as sent twice (a caller bug: ids must be unique)
    int64_t unanswered = 0;  // sent, no answer
    std::map<absl::StatusCode, int64_t> by_code;  // first answers only
    std::vector<std::string> examples;            // a few offending ids with what went wrong

    // True when every sent item got exactly one answer and nothing else arrived.
    bool ok() const { return duplicates == 0 && unknown == 0 && resent == 0 && unanswered == 0; }
    int64_t count(absl::StatusCode code) const {
      auto it = by_code.find(code);
      return it == by_code.end() ? 0 : it->second;
    }
    // Items whose answer was any of `codes`.
    int64_t count(std::initializer_list<absl::StatusCode> codes) const {
      int64_t n = 0;
      for (absl::StatusCode code : codes) n += count(code);
      return n;
    }
    // One line: sent, answers by code, and the violations with examples.
    std::string ToString() const;
  };

  void Sent(absl::string_view id);
  void Answered(absl::string_view id, absl::StatusCode code);
  Report Check() const;

 private:
  struct Entry {
    int sends = 0;
    int answers = 0;
    absl::StatusCode first = absl::StatusCode::kOk;
  };
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
  int64_t unknown_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> unknown_examples_ ABSL_GUARDED_BY(mu_);
};

}  // namespace eaos::client

#endif  // EAOS_CLIENT_CPP_ANSWER_LEDGER_H_
