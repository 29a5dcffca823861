package nn

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goformer/goformer/tensor"
)

func TestReadJSONRequired(t *testing.T) {
	var cfg struct {
		Hidden int `json:"hidden_size"`
	}
	raw := []byte(`{"hidden_size": 8, "vision_config": {"patch_size": 4}, "unknown": 1}`)
	if err := DecodeJSON("config.json", raw, &cfg, "hidden_size", "vision_config.patch_size"); err != nil || cfg.Hidden != 8 {
		t.Fatalf("valid config: %v", err)
	}
	err := DecodeJSON("config.json", raw, &cfg, "num_layers", "vision_config.image_size")
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "num_layers, vision_config.image_size") {
		t.Fatalf("missing fields: %v", err)
	}
	if err := DecodeJSON("config.json", []byte("{"), &cfg); !errors.Is(err, ErrConfig) {
		t.Fatalf("malformed: %v", err)
	}
}

// TestReadConfigAndStartLoad checks the errors of the first steps of a
// family's Load: each names the family and the file once.
func TestReadConfigAndStartLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	if err := os.WriteFile(path, []byte(`{"n": 3}`), 0o644); err != nil {
		t.Fatal(err)
	}
	type cfg struct{ N int }
	parse := func(raw []byte) (cfg, error) {
		var c cfg
		err := DecodeJSON("config.json", raw, &c)
		return c, err
	}
	loadConfig := func(p string) (cfg, error) { return ReadConfig("fam", p, parse) }
	o, c, err := StartLoad("fam", dir, []LoadOption{WithWeightType(tensor.WeightF16)}, loadConfig)
	if err != nil || c.N != 3 || o.WeightType != tensor.WeightF16 {
		t.Fatalf("StartLoad = %+v, %+v, %v", o, c, err)
	}
	if _, _, err := StartLoad("fam", dir, []LoadOption{WithKVType(tensor.WeightQ8)}, loadConfig); err == nil || !strings.HasPrefix(err.Error(), "fam: ") {
		t.Errorf("StartLoad with a bad option: %v", err)
	}
	if _, _, err := StartLoad("fam", t.TempDir(), nil, loadConfig); !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "fam: ") {
		t.Errorf("StartLoad without config.json: %v", err)
	}
	os.WriteFile(path, []byte(`{"n": "x"}`), 0o644)
	_, err = loadConfig(path)
	if !errors.Is(err, ErrConfig) || !strings.HasPrefix(err.Error(), "fam: "+path+": ") {
		t.Errorf("bad content: %v", err)
	}
	// A parse error that names the file and the family is kept as it is.
	named := func(raw []byte) (cfg, error) { return cfg{}, fmt.Errorf("fam: %s: %w", path, ErrConfig) }
	if _, err := ReadConfig("fam", path, named); err == nil || err.Error() != "fam: "+path+": "+ErrConfig.Error() {
		t.Errorf("named error: %v", err)
	}
}
