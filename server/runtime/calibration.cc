#include "server/runtime/calibration.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/runtime/torch_model.h"

namespace eaos::runtime {
namespace {

// Solves the 3x3 system a x = b by Gaussian elimination with partial pivoting.
bool Solve3(std::array<std::array<double, 3>, 3> a, std::array<double, 3> b,
            std::array<double, 3>* x) {
  for (int col = 0; col < 3; ++col) {
    int pivot = col;
    for (int r = col + 1; r < 3; ++r) {
      if (std::fabs(a[r][col]) > std::fabs(a[pivot][col])) pivot = r;
    }
    if (std::fabs(a[pivot][col]) < 1e-12) return false;
    std::swap(a[col], a[pivot]);
    std::swap(b[col], b[pivot]);
    for (int r = col + 1; r < 3; ++r) {
      const double f = a[r][col] / a[col][col];
      for (int c = col; c < 3; ++c) a[r][c] -= f * a[col][c];
      b[r] -= f * b[col];
    }
  }
  for (int r = 2; r >= 0; --r) {
    double s = b[r];
    for (int c = r + 1; c < 3; ++c) s -= a[r][c] * (*x)[c];
    (*x)[r] = s / a[r][r];
  }
  return true;
}

}  // namespace

std::vector<ProbeShape> ProbeGrid(bool on_gpu, int64_t max_length, int64_t max_rows) {
  // Three lengths up to max_length, so that the attention term is measured where it matters.
  // A GPU runs batches of 1, 4 and 16 rows in well under a second even for a base-size model.
  // On a CPU every probe is a real forward on a few cores (a base-size model at 16 x 256 takes
  // ~15 s on one core); its memory is exactly linear in the rows (no allocator rounding of note),
  // so 1 and 2 rows determine the fit: 3 x (L/4 + L/2 + L) tokens, a seventh of the GPU grid's.
  const std::vector<int64_t> rows =
      on_gpu ? std::vector<int64_t>{1, 4, 16} : std::vector<int64_t>{1, 2};
  std::vector<ProbeShape> grid;
  for (int64_t r : rows) {
    for (int64_t length :
         {std::max<int64_t>(3, max_length / 4), std::max<int64_t>(3, max_length / 2), max_length}) {
      grid.push_back({std::min(r, max_rows), length});
    }
  }
  return grid;
}

double MemoryCostModel::Predict(int64_t rows, int64_t length) const {
  const double tokens = static_cast<double>(rows) * static_cast<double>(length);
  return fixed + per_token * tokens + per_token_length * tokens * static_cast<double>(length);
}

int64_t MemoryCostModel::MaxTokens(int64_t bytes, int64_t length) const {
  const double per = per_token + per_token_length * static_cast<double>(length);
  const double room = static_cast<double>(bytes) - fixed;
  if (room <= 0) return 0;
  if (per <= 0) return INT64_MAX / 4;
  return static_cast<int64_t>(room / per);
}

absl::StatusOr<MemoryCostModel> FitMemoryCostModel(const std::vector<MemoryProbe>& probes) {
  std::set<std::pair<int64_t, int64_t>> shapes;
  for (const auto& p : probes) shapes.insert({p.rows, p.length});
  if (shapes.size() < 3) {
    return absl::InvalidArgumentError("memory calibration needs at least 3 distinct batch shapes");
  }
  // Normal equations over features (1, T, T*L), scaled to keep them well conditioned.
  const double scale_t = 1e3, scale_tl = 1e5;
  std::array<std::array<double, 3>, 3> ata{};
  std::array<double, 3> atb{};
  for (const auto& p : probes) {
    const double t = static_cast<double>(p.rows * p.length);
    const std::array<double, 3> f = {1.0, t / scale_t, t * static_cast<double>(p.length) / scale_tl};
    for (int i = 0; i < 3; ++i) {
      for (int j = 0; j < 3; ++j) ata[i][j] += f[i] * f[j];
      atb[i] += f[i] * static_cast<double>(p.peak_bytes);
    }
  }
  std::array<double, 3> x{};
  if (!Solve3(ata, atb, &x)) {
    return absl::InternalError("memory calibration: the probes do not determine a cost model");
  }
  MemoryCostModel model;
  model.fixed = std::max(0.0, x[0]);
  model.per_token = std::max(0.0, x[1] / scale_t);
  model.per_token_length = std::max(0.0, x[2] / scale_tl);
  if (model.per_token == 0 && model.per_token_length == 0) {
    return absl::InternalError("memory calibration: measured memory does not grow with the batch");
  }
  return model;
}

absl::StatusOr<Calibration> Calibrate(Model& model, const ModelConfig& config,
                                      const CalibrationOptions& options) {
  if (!(options.fraction > 0 && options.fraction <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("memory fraction must be in (0, 1], got ", options.fraction));
  }
  const int64_t max_length = config.max_length();
  const auto& st = config.special_tokens();
  Calibration out;
  const int64_t max_rows = std::max(1, options.max_rows);
  for (const ProbeShape& shape : ProbeGrid(IsCudaDevice(model.device()), max_length, max_rows)) {
    std::vector<int64_t> ids(static_cast<size_t>(shape.length), st.unk_id());
    ids.front() = st.bos_id();
    ids.back() = st.eos_id();
    std::vector<const std::vector<int64_t>*> rows_ids(static_cast<size_t>(shape.rows), &ids);
    const Batch batch = Batch::Pad(rows_ids, st.pad_id());
    absl::StatusOr<int64_t> peak = model.MeasureForward(batch);
    if (!peak.ok()) return peak.status();
    out.probes.push_back({shape.rows, shape.length, *peak});
  }
  absl::StatusOr<MemoryCostModel> cost = FitMemoryCostModel(out.probes);
  if (!cost.ok()) return cost.status();
  out.cost = *cost;
  if (options.budget_bytes > 0) {
    out.available_bytes = options.budget_bytes;
    out.budget_bytes =
        static_cast<int64_t>(options.fraction * static_cast<double>(options.budget_bytes));
  } else {
    out.budget_bytes = model.MemoryBudget(options.fraction);
    out.available_bytes = static_cast<int64_t>(static_cast<double>(out.budget_bytes) / options.fraction);
  }
  if (out.budget_bytes <= 0 && options.budget_bytes > 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "memory calibration: --memory_budget=", options.budget_bytes, " x --memory_fraction=",
        options.fraction, " leaves no bytes for batches"));
  }
  if (out.budget_bytes <= 0) {
    return absl::FailedPreconditionError(
        "memory calibration: cannot tell how much memory is available; set --memory_budget");
  }
  const int64_t fits = out.cost.MaxTokens(out.budget_bytes, max_length);
  if (fits < max_length) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "memory calibration: one text of max_length ", max_length, " tokens needs ~",
        static_cast<int64_t>(out.cost.Predict(1, max_length)), " bytes but the budget is ",
        out.budget_bytes, " bytes (", options.fraction, " of ", out.available_bytes, ")"));
  }
  out.max_batch_tokens = std::min(fits, static_cast<int64_t>(max_rows) * max_length);
  return out;
}

}  // namespace eaos::runtime
