// fastBPE tokenizer (PhoBERT's `bpe.codes` + `vocab.txt`), exactly as transformers'
// PhobertTokenizer tokenizes, with byte offsets of every piece into the original text.
//
// The algorithm (docs/model-contract.md, "fastbpe"):
//   1. The text is split at the literal special tokens <s> <pad> </s> <unk> <mask> (each becomes
//      its own id); each remaining segment is split into words `\S+\n?`, where whitespace is
//      Python's str.isspace set (IsPythonSpace, python_text.h).
//   2. A word is a sequence of code points, the last one carrying `</w>`. Merges of bpe.codes
//      are applied by rank: repeatedly the adjacent pair with the lowest rank is merged at every
//      non-overlapping occurrence, left to right, until no pair has a rank.
//   3. Each symbol is a piece: non-final pieces get `@@`, the final one loses `</w>`; a piece not
//      in vocab.txt is <unk> (one <unk> per piece, covering that piece's characters).
//   4. Ids are fairseq's: <s>=0 <pad>=1 </s>=2 <unk>=3, then vocab.txt in file order, <mask> last.
//
// Thread-safety: immutable after Load(); Encode() and Pieces() may be called from many threads.
//
//   auto tok = FastBpeTokenizer::Load({.codes_path = dir + "/bpe.codes",
//                                      .vocab_path = dir + "/vocab.txt", .max_length = 256});
//   absl::StatusOr<Encoding> e = (*tok)->Encode("Chương_trình rất hay");
#ifndef EAOS_SERVER_TEXT_FASTBPE_H_
#define EAOS_SERVER_TEXT_FASTBPE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/text/fairseq_ids.h"
#include "server/text/python_text.h"
#include "server/text/tokenizer.h"

namespace eaos::text {

// PhoBERT keeps fairseq's dictionary layout: kFairseqBosId ... kFairseqUnkId (fairseq_ids.h).

struct FastBpeOptions {
  std::string codes_path;  // bpe.codes: lines "<left> <right> <count>", rank = line number
  std::string vocab_path;  // vocab.txt: lines "<piece> <count>", id = 4 + line number
  int max_length = 256;    // positions per encoding, <s> and </s> included
};

// One piece of the text: its id and the byte range [begin, end) it covers.
struct Piece {
  int64_t id;
  uint32_t begin;
  uint32_t end;
};

class FastBpeTokenizer final : public Tokenizer {
 public:
  // Reads both files. Errors name the file and line that is wrong.
  static absl::StatusOr<std::unique_ptr<FastBpeTokenizer>> Load(const FastBpeOptions& options);
  // The same from the files' contents (tests, fuzzing); the names only label error messages.
  static absl::StatusOr<std::unique_ptr<FastBpeTokenizer>> FromText(
      absl::string_view codes, absl::string_view vocab, int max_length,
      absl::string_view codes_name = "bpe.codes", absl::string_view vocab_name = "vocab.txt");

  // [<s>] pieces... [</s>], the pieces cut to max_length - 2. InvalidArgument if `text` is not
  // valid UTF-8.
  absl::StatusOr<Encoding> Encode(absl::string_view text) const override;
  int vocab_size() const override { return static_cast<int>(mask_id_) + 1; }
  int max_length() const override { return max_length_; }

  // All pieces of `text` in order, without <s>/</s> and without truncation. Ranges are monotone,
  // non-overlapping, and together cover every non-whitespace byte of the text.
  absl::StatusOr<std::vector<Piece>> Pieces(absl::string_view text) const;

  int64_t mask_id() const { return mask_id_; }
  // The id of a vocabulary entry as PhobertTokenizer maps it (unk id when absent).
  int64_t IdOf(absl::string_view piece) const;

 private:
  struct Merge {
    int32_t rank;
    int32_t merged;  // symbol id of left + right
  };

  FastBpeTokenizer() = default;
  // Appends the pieces of one word, text[begin, end), which holds no whitespace except a final \n.
  void AppendWord(absl::string_view text, uint32_t begin, uint32_t end,
                  std::vector<Piece>* out) const;
  void AppendSegment(absl::string_view text, uint32_t begin, uint32_t end,
                     std::vector<Piece>* out) const;
  int32_t SymbolId(absl::string_view symbol) const;

  // Constant after construction.
  int max_length_ = 0;
  int64_t mask_id_ = 0;
  absl::flat_hash_map<std::string, int64_t> vocab_;    // piece -> id (specials included)
  absl::flat_hash_map<std::string, int32_t> symbols_;  // every symbol bpe.codes names
  absl::flat_hash_map<uint64_t, Merge> merges_;        // (left id << 32 | right id) -> merge
};

}  // namespace eaos::text

#endif  // EAOS_SERVER_TEXT_FASTBPE_H_
