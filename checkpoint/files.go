package checkpoint

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/goformer/goformer/tensor"
)

// LoadSafetensors reads every tensor of one safetensors file into a Store.
// F32 tensors alias the memory-mapped file (released by Store.Close); F16
// and BF16 tensors stay 16-bit in the mapping until read as float32 (a
// layer packs them without widening, see nn.NewLinear); F64 and integer
// tensors are converted to float32.
func LoadSafetensors(path string) (*Store, error) {
	f, err := OpenSafetensors(path)
	if err != nil {
		return nil, err
	}
	return storeFromSafetensors(f, path)
}

// storeFromSafetensors builds a Store over an open file, which it owns
// (closed on error, else by Store.Close).
func storeFromSafetensors(f *Safetensors, path string) (*Store, error) {
	m := make(map[string]*tensor.Tensor, len(f.infos))
	half := map[string]*Half{}
	for _, name := range f.Names() {
		ti := f.infos[name]
		if ti.DType == "F16" || ti.DType == "BF16" {
			h, err := newHalf(ti.DType, ti.Shape, f.data[ti.Offsets[0]:ti.Offsets[1]])
			if err != nil {
				f.Close()
				return nil, fmt.Errorf("%s: tensor %q: %w", path, name, err)
			}
			half[name] = h
			continue
		}
		t, err := f.Tensor(name)
		if err != nil {
			f.Close()
			return nil, err
		}
		m[name] = t
	}
	s := NewStore(path, m)
	s.half = half
	s.closers = append(s.closers, f.Close)
	if f.mapped != nil {
		s.mapped = append(s.mapped, f.mapped)
	}
	return s, nil
}

// LoadSafetensorsIndex reads a sharded checkpoint through its
// `model.safetensors.index.json` (weight_map: tensor name → shard file).
func LoadSafetensorsIndex(indexPath string) (*Store, error) {
	weightMap, names, err := readShardIndex(indexPath)
	if err != nil {
		return nil, err
	}
	if len(weightMap) == 0 {
		return nil, fmt.Errorf("%s: %w: empty weight_map", indexPath, ErrCorrupt)
	}
	dir := filepath.Dir(indexPath)
	all := NewStore(indexPath, map[string]*tensor.Tensor{})
	for _, f := range names {
		s, err := LoadSafetensors(filepath.Join(dir, f))
		if err != nil {
			all.Close()
			return nil, err
		}
		for _, n := range s.Names() {
			if weightMap[n] != f {
				continue
			}
			if h, ok := s.half[n]; ok {
				if all.half == nil {
					all.half = map[string]*Half{}
				}
				all.half[n] = h
				continue
			}
			t, _ := s.Get(n)
			all.tensors[n] = t
		}
		all.closers = append(all.closers, s.closers...)
		all.mapped = append(all.mapped, s.mapped...)
	}
	var missing []string
	for n := range weightMap {
		if _, ok := all.tensors[n]; !ok && all.half[n] == nil {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		all.Close()
		sort.Strings(missing)
		return nil, fmt.Errorf("%s: %w: index names tensors its shards lack: %s", indexPath, ErrCorrupt, strings.Join(missing, ", "))
	}
	return all, nil
}

// FileNames lists, in order of preference, the weight files LoadDir looks
// for in a model directory.
var FileNames = []string{
	"model.safetensors",
	"model.safetensors.index.json",
	"pytorch_model.bin",
	"pytorch_model.bin.index.json",
}

// LoadDir loads the weights of a Hub-layout model directory, preferring
// safetensors (single or sharded) over pytorch_model.bin.
func LoadDir(dir string) (*Store, error) {
	for _, name := range FileNames {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err != nil {
			continue
		}
		return LoadFile(p)
	}
	return nil, fmt.Errorf("%s: %w (looked for %s)", dir, ErrNotFound, strings.Join(FileNames, ", "))
}

// LoadFile loads one weights file, choosing the reader from its name:
// *.safetensors, *.safetensors.index.json, *.bin.index.json, or a PyTorch
// checkpoint (*.bin, *.pt, *.pth; see OpenPyTorch).
func LoadFile(path string) (*Store, error) {
	switch {
	case strings.HasSuffix(path, ".safetensors"):
		return LoadSafetensors(path)
	case strings.HasSuffix(path, ".safetensors.index.json"):
		return LoadSafetensorsIndex(path)
	case strings.HasSuffix(path, ".bin.index.json"):
		return loadPyTorchIndex(path)
	default:
		s, _, err := OpenPyTorch(path)
		return s, err
	}
}

func loadPyTorchIndex(indexPath string) (*Store, error) {
	_, names, err := readShardIndex(indexPath)
	if err != nil {
		return nil, err
	}
	all := NewStore(indexPath, map[string]*tensor.Tensor{})
	all.half = map[string]*Half{}
	for _, f := range names {
		p, err := readPyTorch(filepath.Join(filepath.Dir(indexPath), f))
		if err != nil {
			return nil, err
		}
		for k, v := range p.tensors {
			all.tensors[k] = v
		}
		for k, h := range p.half {
			all.half[k] = h
		}
	}
	return all, nil
}

// readShardIndex reads the weight_map (tensor name → shard file) of a
// sharded checkpoint's index and returns it with the shard files in
// order. A shard must be a plain file name beside the index.
func readShardIndex(indexPath string) (map[string]string, []string, error) {
	raw, err := os.ReadFile(indexPath)
	if err != nil {
		return nil, nil, err
	}
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(raw, &idx); err != nil {
		return nil, nil, fmt.Errorf("%s: %w: %v", indexPath, ErrCorrupt, err)
	}
	shards := map[string]bool{}
	for _, f := range idx.WeightMap {
		if f == "" || strings.Contains(f, "..") || filepath.IsAbs(f) || strings.ContainsAny(f, `/\`) {
			return nil, nil, fmt.Errorf("%s: %w: shard name %q", indexPath, ErrCorrupt, f)
		}
		shards[f] = true
	}
	names := make([]string, 0, len(shards))
	for f := range shards {
		names = append(names, f)
	}
	sort.Strings(names)
	return idx.WeightMap, names, nil
}
