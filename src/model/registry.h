// Architecture name (GGUF general.architecture) -> the function that binds its weights.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "model/model.h"
#include "model/model_binder.h"

namespace spool::model {

// Reads hparams, binds every tensor and returns the model. Throws UnsupportedError for an architecture
// not in the registry (listing the supported ones), and whatever binding throws (FormatError, UnsupportedError,
// UsageError for stages that do not fit the layer count).
std::unique_ptr<Model> load_model(const gguf::GgufFile& file, std::vector<StagePlacement> stages);
// The whole model on one backend.
std::unique_ptr<Model> load_model(const gguf::GgufFile& file, Backend& backend, TensorPlacer placer);

std::vector<std::string> supported_architectures();

// One factory per architecture file (arch_<name>.cpp).
std::unique_ptr<Model> load_llama(const ModelBinder& binder);
std::unique_ptr<Model> load_qwen2(const ModelBinder& binder);
std::unique_ptr<Model> load_qwen3(const ModelBinder& binder);

}  // namespace spool::model
