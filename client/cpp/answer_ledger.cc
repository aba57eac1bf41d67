#include "client/cpp/answer_ledger.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace eaos::client {
namespace {
constexpr size_t kMaxExamples = 5;

void AddExample(std::vector<std::string>* examples, std::string example) {
  if (examples->size() < kMaxExamples) examples->push_back(std::move(example));
}
}  // namespace

void AnswerLedger::Sent(absl::string_view id) {
  absl::MutexLock lock(&mu_);
  ++entries_[id].sends;
}

void AnswerLedger::Answered(absl::string_view id, absl::StatusCode code) {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(id);
  if (it == entries_.end()) {
    ++unknown_;
    AddExample(&unknown_examples_, absl::StrCat("unknown id '", id, "'"));
    return;
  }
  if (it->second.answers++ == 0) it->second.first = code;
}

AnswerLedger::Report AnswerLedger::Check() const {
  absl::MutexLock lock(&mu_);
  Report report;
  report.unknown = unknown_;
  report.examples = unknown_examples_;
  // Sorted ids: the examples are the same from run to run.
  std::vector<const std::pair<const std::string, Entry>*> sorted;
  sorted.reserve(entries_.size());
  for (const auto& entry : entries_) sorted.push_back(&entry);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->first < b->first; });
  for (const auto* entry : sorted) {
    const Entry& e = entry->second;
    report.sent += e.sends;
    if (e.sends > 1) {
      report.resent += e.sends - 1;
      AddExample(&report.examples, absl::StrCat("'", entry->first, "' sent ", e.sends, " times"));
    }
    if (e.answers == 0) {
      ++report.unanswered;
      AddExample(&report.examples, absl::StrCat("'", entry->first, "' never answered"));
      continue;
    }
    ++report.answered;
    ++report.by_code[e.first];
    if (e.answers > 1) {
      report.duplicates += e.answers - 1;
      AddExample(&report.examples,
                 absl::StrCat("'", entry->first, "' answered ", e.answers, " times"));
    }
  }
  return report;
}

std::string AnswerLedger::Report::ToString() const {
  std::vector<std::string> codes;
  for (const auto& [code, n] : by_code) {
    codes.push_back(absl::StrCat(absl::StatusCodeToString(code), " ", n));
  }
  std::string line = absl::StrCat("sent ", sent, ", answered ", answered, " (",
                                  absl::StrJoin(codes, ", "), "), unanswered ", unanswered,
                                  ", duplicate answers ", duplicates, ", unknown ids ", unknown,
                                  ", ids sent twice ", resent);
  if (!examples.empty()) absl::StrAppend(&line, "; e.g. ", absl::StrJoin(examples, "; "));
  return line;
}

}  // namespace eaos::client
