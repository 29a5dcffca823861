// Package task is the vocabulary every model family shares: what a loaded
// model can do (small task interfaces), the options and results of each task,
// the one input-error sentinel, and the registry through which each family
// package tells the front door (package goformer) which config.json
// architectures it runs.
//
// The package sits below the families and imports none of them: a family
// package implements the interfaces in an adapter of its own (embedding
// Adapter, which gives Info, Close and Model) and registers it from an init
// function (Loader makes the Family's Load of the package's Load). Programs normally use package goformer, which
// re-exports these names and imports every built-in family.
//
// Conventions shared by all families:
//
//   - A loaded model is immutable and safe for concurrent use; per-call
//     state lives in the call.
//   - Every long call takes a context.Context first and stops when it is
//     done.
//   - Input that a model cannot take (a corrupt file, an over-long text, an
//     option the family does not have, an absurd beam width) gives an error
//     that matches ErrInput with errors.Is; other errors are the model's or
//     the machine's.
//   - Close releases what the model holds (mappings, packed weights, device
//     memory); it is idempotent.
//   - Each family package has the same front: Load(dir, opts ...Option)
//     reads a Hub-layout folder, where Option is the shared nn.LoadOption
//     (each package re-exports WithWeightType and WithDevice);
//     New(config, weights) builds a model from a Config and a
//     checkpoint.Weights view (a store's Root) and never owns the store, so
//     its Close leaves the store open; LoadConfig reads a config.json.
//     (gpt2's captioner, a ViT encoder and a GPT-2 decoder with their own
//     configs, is LoadCaptioner and NewCaptioner.)
//   - With… methods of a model (WithProcessor, WithTokenizer) return a copy
//     that shares the weights; the model itself never changes.
package task
