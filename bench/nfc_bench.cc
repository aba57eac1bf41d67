// The cost of NFC normalization before tokenizing (server/text/normalize.h), per comment: the fast
// path (text already NFC: a check, no copy), the slow path (NFD input: segment-wise normalization
// and the offset maps), and the demo model's sentencepiece Encode beside it for scale. Prints a
// table; never a timed test.
//
//   build/release/bin/eaos-nfc-bench [--iterations=N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/text/normalize.h"
#include "server/text/tokenizer.h"

namespace {

using Clock = std::chrono::steady_clock;

// Median over 5 rounds of the mean ns per call.
double NsPerCall(int iterations, const std::function<void()>& call) {
  std::vector<double> rounds;
  for (int r = 0; r < 5; ++r) {
    const auto start = Clock::now();
    for (int i = 0; i < iterations; ++i) call();
    const std::chrono::duration<double, std::nano> d = Clock::now() - start;
    rounds.push_back(d.count() / iterations);
  }
  std::sort(rounds.begin(), rounds.end());
  return rounds[rounds.size() / 2];
}

// NFD by hand for the letters of the sample comments (no ICU dependency here): the bench only
// needs a decomposed text; normalize_test checks the real thing.
std::string Decompose(const std::string& nfc) {
  static const std::vector<std::pair<std::string, std::string>> kMap = {
      {"ư", "u\u031B"},         {"ơ", "o\u031B"},        {"ì", "i\u0300"},
      {"ấ", "a\u0302\u0301"},   {"ẫ", "a\u0302\u0303"},  {"ê", "e\u0302"},
      {"á", "a\u0301"},         {"à", "a\u0300"},        {"ả", "a\u0309"},
      {"ạ", "a\u0323"},         {"ó", "o\u0301"},        {"ò", "o\u0300"},
      {"ộ", "o\u0323\u0302"},   {"ờ", "o\u031B\u0300"},  {"ợ", "o\u031B\u0323"},
      {"ự", "u\u031B\u0323"},   {"ú", "u\u0301"},        {"ỳ", "y\u0300"},
      {"ý", "y\u0301"},         {"ỹ", "y\u0303"},        {"ồ", "o\u0302\u0300"},
      {"ề", "e\u0302\u0300"},   {"ế", "e\u0302\u0301"},  {"ệ", "e\u0323\u0302"},
      {"ị", "i\u0323"},         {"í", "i\u0301"},        {"ĩ", "i\u0303"},
      {"â", "a\u0302"},         {"ô", "o\u0302"},        {"ă", "a\u0306"},
      {"ắ", "a\u0306\u0301"},   {"ặ", "a\u0323\u0306"},  {"ẽ", "e\u0303"},
      {"é", "e\u0301"},         {"è", "e\u0300"},        {"ã", "a\u0303"},
      {"ậ", "a\u0323\u0302"},   {"ầ", "a\u0302\u0300"},  {"ể", "e\u0302\u0309"},
      {"ổ", "o\u0302\u0309"},   {"ở", "o\u031B\u0309"},  {"ớ", "o\u031B\u0301"},
      {"ừ", "u\u031B\u0300"},   {"ứ", "u\u031B\u0301"},  {"ử", "u\u031B\u0309"},
      {"ữ", "u\u031B\u0303"},   {"ụ", "u\u0323"},        {"ủ", "u\u0309"},
      {"ù", "u\u0300"},         {"ọ", "o\u0323"},        {"ỏ", "o\u0309"},
      {"õ", "o\u0303"},         {"ỉ", "i\u0309"},        {"ẹ", "e\u0323"},
      {"ẻ", "e\u0309"},         {"ẩ", "a\u0302\u0309"},  {"ỗ", "o\u0302\u0303"},
      {"ố", "o\u0302\u0301"},   {"ớ", "o\u031B\u0301"},  {"ẳ", "a\u0306\u0309"}};
  std::string out;
  for (size_t i = 0; i < nfc.size();) {
    bool done = false;
    for (const auto& [from, to] : kMap) {
      if (nfc.compare(i, from.size(), from) == 0) {
        out += to;
        i += from.size();
        done = true;
        break;
      }
    }
    if (!done) out += nfc[i++];
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int iterations = 20000;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--iterations=", 0) == 0 && absl::SimpleAtoi(arg.substr(13), &iterations) &&
        iterations > 0) {
      continue;
    }
    std::fprintf(stderr, "usage: %s [--iterations=N]\n", argv[0]);
    return 2;
  }
  eaos::text::TokenizerOptions options;
  options.model_path = std::string(EAOS_SOURCE_DIR) + "/models/demo/tokenizer.model";
  options.max_length = 512;
  auto tokenizer = eaos::text::Tokenizer::Load(options);
  if (!tokenizer.ok()) {
    std::fprintf(stderr, "%s\n", std::string(tokenizer.status().message()).c_str());
    return 1;
  }

  const std::string ascii =
      "MC dan hay qua, nhung am thanh hoi re va hinh anh bi mo, quang cao thi qua nhieu, "
      "xem rat chan!!! 10 diem cho khach moi";
  const std::string vi_short = "Chương trình rất hay, MC dẫn duyên quá! 😍";
  const std::string vi =
      "Chương trình hôm nay rất hay, MC dẫn duyên, ca sĩ hát ngọt, âm thanh sống động, hình ảnh "
      "đẹp, kịch bản hấp dẫn, nhưng quảng cáo hơi nhiều 😍";
  struct Row {
    std::string name;
    std::string text;
  };
  const std::vector<Row> rows = {
      {"ASCII (NFC)", ascii},
      {"Vietnamese NFC, short", vi_short},
      {"Vietnamese NFC", vi},
      {"Vietnamese NFD, short", Decompose(vi_short)},
      {"Vietnamese NFD", Decompose(vi)},
  };

  for (const Row& row : rows) {
    const std::string& nfc = row.text == Decompose(vi) ? vi : row.text == Decompose(vi_short) ? vi_short : row.text;
    if (eaos::text::NfcText::Of(row.text).text() != nfc) {
      std::fprintf(stderr, "%s: NFC of the text is not the NFC sample\n", row.name.c_str());
      return 1;
    }
  }
  std::printf("NFC before tokenizing: ns per comment (median of 5 rounds x %d calls)\n\n",
              iterations);
  std::printf("%-24s %6s %8s %10s %12s %10s %12s %10s\n", "text", "bytes", "is NFC", "IsNfc",
              "NfcText::Of", "Encode", "EncodeNfc", "NFC share");
  for (const Row& row : rows) {
    const eaos::text::Tokenizer& tok = **tokenizer;
    const std::string& t = row.text;
    const bool nfc = eaos::text::IsNfc(t);
    size_t sink = 0;
    const double is_nfc = NsPerCall(iterations, [&] { sink += eaos::text::IsNfc(t); });
    const double of = NsPerCall(iterations, [&] { sink += eaos::text::NfcText::Of(t).text().size(); });
    const double encode = NsPerCall(iterations / 10, [&] { sink += tok.Encode(t)->size(); });
    const double encode_nfc =
        NsPerCall(iterations / 10, [&] { sink += eaos::text::EncodeNfc(tok, t)->size(); });
    std::printf("%-24s %6zu %8s %10.0f %12.0f %10.0f %12.0f %9.1f%%%s\n", row.name.c_str(), t.size(),
                nfc ? "yes" : "no", is_nfc, of, encode, encode_nfc,
                100.0 * of / encode_nfc, sink == 0 ? " " : "");
  }
  std::printf("\nEncode is the demo sentencepiece tokenizer on the text as given (for NFD, the "
              "decomposed text: what the server did before); EncodeNfc = NFC + Encode + offset "
              "mapping. NFC share = NfcText::Of / EncodeNfc (what normalizing adds, measured alone: the\n"
              "machine's noise between the Encode and EncodeNfc columns is larger than it).\n");
  return 0;
}
