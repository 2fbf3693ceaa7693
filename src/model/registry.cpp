// The architecture table: one row per supported general.architecture value.
#include "model/registry.h"

#include <array>
#include <string_view>

#include "spool/errors.h"

namespace spool::model {
namespace {

struct Architecture {
    std::string_view name;
    std::unique_ptr<Model> (*load)(const ModelBinder&);
};

constexpr std::array kArchitectures = {
    Architecture{"llama", load_llama},  // Llama 2/3, TinyLlama, Mistral, SmolLM
    Architecture{"qwen2", load_qwen2},
    Architecture{"qwen3", load_qwen3},
};

}  // namespace

std::vector<std::string> supported_architectures() {
    std::vector<std::string> names;
    for (const Architecture& a : kArchitectures) names.emplace_back(a.name);
    return names;
}

std::unique_ptr<Model> load_model(const gguf::GgufFile& file, std::vector<StagePlacement> stages) {
    const std::string arch = file.architecture();
    for (const Architecture& a : kArchitectures) {
        if (a.name == arch) return a.load(ModelBinder(file, std::move(stages)));
    }
    std::string supported;
    for (const Architecture& a : kArchitectures) supported += (supported.empty() ? "" : ", ") + std::string(a.name);
    throw UnsupportedError(file.path() + ": architecture '" + (arch.empty() ? "(general.architecture missing)" : arch) +
                           "' is not supported; supported architectures: " + supported);
}

std::unique_ptr<Model> load_model(const gguf::GgufFile& file, Backend& backend, TensorPlacer placer) {
    std::vector<StagePlacement> stages;
    stages.push_back(StagePlacement{&backend, std::move(placer), 0});
    return load_model(file, std::move(stages));
}

}  // namespace spool::model
