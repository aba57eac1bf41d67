// eaos-server --help, one group: the model and where it runs.
#include "server/flags/flags.h"

ABSL_FLAG(std::string, model_dir, "",
          "Model directory (model.pt, tokenizer.model, model.json); default: the bundled demo "
          "model (<prefix>/share/eaos/models/demo beside an installed binary, else the source "
          "tree's models/demo)");
ABSL_FLAG(bool, golden_check, true,
          "Replay the model directory's golden.json at load and refuse to serve if the answers "
          "differ from the export's (docs/models.md)");
ABSL_FLAG(std::string, device, "cpu",
          "Torch device: cpu, cuda, cuda:N, a list cuda:0,cuda:1, or cuda:all (one model replica "
          "per GPU; a free runner takes the next batch)");
ABSL_FLAG(int, runners_per_device, 0,
          "Batch runner threads per device; 0 = 2 on a GPU (one batch's host work - padding, "
          "copies, decoding - overlaps the other's compute), 1 on CPU (its cores are already the "
          "model's)");
ABSL_FLAG(std::string, precision, "fp32",
          "fp32; on CUDA fp16 / bf16; on CPU int8 (serves model.int8.pt, written by "
          "eaos_tools.quantize: the Linear layers in int8)");
ABSL_FLAG(int, threads, 0,
          "Intra-op threads for the model; 0 = on CPU chosen at load by measured cost: all usable "
          "CPUs (affinity mask and cgroup quota) when the forward dominates, else one fewer, "
          "leaving one for the serving threads (logged, and in GetModelInfo); on a GPU all of them");
