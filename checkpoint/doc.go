// Package checkpoint reads model weights from the files transformers and
// PyTorch write, and holds them by name for the layers built from them.
//
// Formats:
//
//   - safetensors (model.safetensors): memory-mapped where the platform
//     allows, the header checked against the file before anything is read
//     (OpenSafetensors, ParseSafetensors, LoadSafetensors);
//   - sharded checkpoints through their index (model.safetensors.index.json,
//     pytorch_model.bin.index.json);
//   - PyTorch pickles (pytorch_model.bin, .pt, .pth): torch.save'd state
//     dicts in the zip or the legacy format, and TorchScript archives
//     (torch.jit.save), all through one restricted unpickler that executes
//     nothing and refuses every global but the tensor-storage classes (and
//     a TorchScript archive's module classes) (OpenPyTorch).
//
// LoadDir picks the weights of a Hub-layout model directory (safetensors
// first) and LoadFile reads one file by its name.
//
// A Store is the name-keyed set of tensors read from a checkpoint. F32
// safetensors tensors alias the file mapping (released by Store.Close);
// F16 and BF16 tensors stay 16-bit (Half) until something asks for them as
// float32, so that layers can keep 16-bit checkpoints packed in their own
// type (see package nn). Model code reads a store through Weights views,
// which record every missing or mis-shaped tensor so that Store.Err reports
// them all in one error wrapping ErrMissingWeights.
//
// Errors wrap ErrCorrupt (malformed files), ErrUnsupportedDType,
// ErrForbiddenPickle, ErrMissingWeights or ErrNotFound, and name the file
// and tensor.
package checkpoint
