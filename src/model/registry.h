// Architecture name (GGUF general.architecture) -> the function that binds its weights.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "model/model.h"
#include "model/weights.h"

namespace spool::model {

// Reads hparams, binds every tensor and returns the model. Throws UnsupportedError for an architecture
// not in the registry (listing the supported ones), and whatever binding throws (FormatError, UnsupportedError).
std::unique_ptr<Model> load_model(const gguf::GgufFile& file, const Backend& backend, TensorPlacer placer);

std::vector<std::string> supported_architectures();

// One factory per architecture file (arch_<name>.cpp).
std::unique_ptr<Model> load_llama(const WeightBinder& binder);
std::unique_ptr<Model> load_qwen2(const WeightBinder& binder);
std::unique_ptr<Model> load_qwen3(const WeightBinder& binder);

}  // namespace spool::model
