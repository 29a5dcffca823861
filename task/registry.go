package task

import (
	"fmt"
	"sort"
	"sync"

	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
)

// LoadOptions say how a family loads a checkpoint. The zero value keeps
// weights as the checkpoint stores them.
type LoadOptions struct {
	// WeightType is the element type float32 weights of linear layers are
	// packed in (tensor.WeightF16 or WeightBF16 halve their memory).
	WeightType tensor.WeightType
	// KVType is the element type decoders keep cross-attention keys and
	// values in.
	KVType tensor.WeightType
	// SelfKVType is the element type decoders keep their self-attention
	// caches in.
	SelfKVType tensor.WeightType
	// Device is where the model keeps its weights and computes (nil: the
	// host).
	Device *tensor.Device
}

// Family is a model family as the registry knows it.
type Family struct {
	// Name is the family's package name ("whisper").
	Name string
	// Architectures are the config.json architectures[0] values it runs
	// (transformers class names).
	Architectures []string
	// ModelTypes are the config.json model_type values it runs when
	// architectures is absent.
	ModelTypes []string
	// Tasks are what its models can do (a model may do fewer, as Info
	// tells: a BLIP checkpoint either captions or answers).
	Tasks []string
	// Load loads a model directory (with config.json) of this family.
	Load func(dir string, opt LoadOptions) (Model, error)
	// LoadFile, when set, loads a checkpoint without config.json in the
	// family's original format (OpenAI's Whisper and CLIP .pt files); it
	// fails quickly for files of another family.
	LoadFile func(path string, opt LoadOptions) (Model, error)
}

var (
	mu       sync.RWMutex
	families []Family
	byName   = map[string]int{}
)

// Register adds a family. It is called from the family package's init and
// panics on a duplicate name or architecture (a programming error).
func Register(f Family) {
	mu.Lock()
	defer mu.Unlock()
	if f.Name == "" || f.Load == nil {
		panic("task: Register needs a name and a Load function")
	}
	if _, dup := byName[f.Name]; dup {
		panic("task: family " + f.Name + " registered twice")
	}
	for _, g := range families {
		for _, a := range f.Architectures {
			for _, b := range g.Architectures {
				if a == b {
					panic(fmt.Sprintf("task: architecture %s registered by %s and %s", a, g.Name, f.Name))
				}
			}
		}
	}
	byName[f.Name] = len(families)
	families = append(families, f)
}

// Families returns the registered families sorted by name.
func Families() []Family {
	mu.RLock()
	out := append([]Family(nil), families...)
	mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Lookup returns the family that runs a config.json: by architecture when
// arch is set, else by model type.
func Lookup(arch, modelType string) (Family, bool) {
	mu.RLock()
	defer mu.RUnlock()
	if arch != "" {
		for _, f := range families {
			for _, a := range f.Architectures {
				if a == arch {
					return f, true
				}
			}
		}
		return Family{}, false
	}
	for _, f := range families {
		for _, t := range f.ModelTypes {
			if t == modelType {
				return f, true
			}
		}
	}
	return Family{}, false
}

// FamilyByName returns the family registered under name.
func FamilyByName(name string) (Family, bool) {
	mu.RLock()
	defer mu.RUnlock()
	i, ok := byName[name]
	if !ok {
		return Family{}, false
	}
	return families[i], true
}

// Architectures lists every registered architecture, sorted.
func Architectures() []string {
	var out []string
	for _, f := range Families() {
		out = append(out, f.Architectures...)
	}
	sort.Strings(out)
	return out
}

// NN returns the options as the family packages' Load takes them.
func (o LoadOptions) NN() []nn.LoadOption {
	return []nn.LoadOption{nn.WithWeightType(o.WeightType), nn.WithKVType(o.KVType), nn.WithSelfKVType(o.SelfKVType), nn.WithDevice(o.Device)}
}
