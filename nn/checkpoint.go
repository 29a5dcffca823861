package nn

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/goformer/goformer/tensor"
)

// LoadSafetensors reads every tensor of one safetensors file into a Store.
// F32 tensors alias the memory-mapped file (released by Store.Close); F16,
// BF16 and F64 tensors are widened to float32.
func LoadSafetensors(path string) (*Store, error) {
	f, err := OpenSafetensors(path)
	if err != nil {
		return nil, err
	}
	m := make(map[string]*tensor.Tensor, len(f.infos))
	dts := map[string]string{}
	for _, name := range f.Names() {
		t, err := f.Tensor(name)
		if err != nil {
			f.Close()
			return nil, err
		}
		m[name] = t
		if dt := f.infos[name].DType; dt == "F16" || dt == "BF16" {
			dts[name] = dt
		}
	}
	s := NewStore(path, m)
	s.dtypes = dts
	s.closers = append(s.closers, f.Close)
	return s, nil
}

// LoadSafetensorsIndex reads a sharded checkpoint through its
// `model.safetensors.index.json` (weight_map: tensor name → shard file).
func LoadSafetensorsIndex(indexPath string) (*Store, error) {
	raw, err := os.ReadFile(indexPath)
	if err != nil {
		return nil, err
	}
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(raw, &idx); err != nil {
		return nil, fmt.Errorf("%s: %w: %v", indexPath, ErrCorruptCheckpoint, err)
	}
	if len(idx.WeightMap) == 0 {
		return nil, fmt.Errorf("%s: %w: empty weight_map", indexPath, ErrCorruptCheckpoint)
	}
	dir := filepath.Dir(indexPath)
	shards := map[string]bool{}
	for _, f := range idx.WeightMap {
		if f == "" || strings.Contains(f, "..") || filepath.IsAbs(f) || strings.ContainsAny(f, `/\`) {
			return nil, fmt.Errorf("%s: %w: shard name %q", indexPath, ErrCorruptCheckpoint, f)
		}
		shards[f] = true
	}
	names := make([]string, 0, len(shards))
	for f := range shards {
		names = append(names, f)
	}
	sort.Strings(names)
	all := NewStore(indexPath, map[string]*tensor.Tensor{})
	for _, f := range names {
		s, err := LoadSafetensors(filepath.Join(dir, f))
		if err != nil {
			all.Close()
			return nil, err
		}
		for _, n := range s.Names() {
			if idx.WeightMap[n] == f {
				t, _ := s.Get(n)
				all.tensors[n] = t
				if dt, ok := s.dtypes[n]; ok {
					if all.dtypes == nil {
						all.dtypes = map[string]string{}
					}
					all.dtypes[n] = dt
				}
			}
		}
		all.closers = append(all.closers, s.closers...)
	}
	var missing []string
	for n := range idx.WeightMap {
		if _, ok := all.tensors[n]; !ok {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		all.Close()
		sort.Strings(missing)
		return nil, fmt.Errorf("%s: %w: index names tensors its shards lack: %s", indexPath, ErrCorruptCheckpoint, strings.Join(missing, ", "))
	}
	return all, nil
}

// LoadPyTorchStore reads a PyTorch checkpoint into a Store (see LoadPyTorch).
func LoadPyTorchStore(path string) (*Store, error) {
	m, _, err := LoadPyTorch(path)
	if err != nil {
		return nil, err
	}
	return NewStore(path, m), nil
}

// ErrNoCheckpoint is returned when a model directory holds no weights file.
var ErrNoCheckpoint = errors.New("no checkpoint found")

// CheckpointFiles lists, in order of preference, the weight files LoadDir
// looks for in a model directory.
var CheckpointFiles = []string{
	"model.safetensors",
	"model.safetensors.index.json",
	"pytorch_model.bin",
	"pytorch_model.bin.index.json",
}

// LoadDir loads the weights of a Hub-layout model directory, preferring
// safetensors (single or sharded) over pytorch_model.bin.
func LoadDir(dir string) (*Store, error) {
	for _, name := range CheckpointFiles {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err != nil {
			continue
		}
		return LoadFile(p)
	}
	return nil, fmt.Errorf("%s: %w (looked for %s)", dir, ErrNoCheckpoint, strings.Join(CheckpointFiles, ", "))
}

// LoadFile loads one weights file, choosing the reader from its name:
// *.safetensors, *.safetensors.index.json, *.bin.index.json, or a PyTorch
// pickle (*.bin, *.pt, *.pth).
func LoadFile(path string) (*Store, error) {
	switch {
	case strings.HasSuffix(path, ".safetensors"):
		return LoadSafetensors(path)
	case strings.HasSuffix(path, ".safetensors.index.json"):
		return LoadSafetensorsIndex(path)
	case strings.HasSuffix(path, ".bin.index.json"):
		return loadPyTorchIndex(path)
	default:
		return LoadPyTorchStore(path)
	}
}

func loadPyTorchIndex(indexPath string) (*Store, error) {
	raw, err := os.ReadFile(indexPath)
	if err != nil {
		return nil, err
	}
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(raw, &idx); err != nil {
		return nil, fmt.Errorf("%s: %w: %v", indexPath, ErrCorruptCheckpoint, err)
	}
	shards := map[string]bool{}
	for _, f := range idx.WeightMap {
		if f == "" || strings.Contains(f, "..") || strings.ContainsAny(f, `/\`) {
			return nil, fmt.Errorf("%s: %w: shard name %q", indexPath, ErrCorruptCheckpoint, f)
		}
		shards[f] = true
	}
	all := NewStore(indexPath, map[string]*tensor.Tensor{})
	for f := range shards {
		m, _, err := LoadPyTorch(filepath.Join(filepath.Dir(indexPath), f))
		if err != nil {
			return nil, err
		}
		for k, v := range m {
			all.tensors[k] = v
		}
	}
	return all, nil
}
