package nn

import (
	"errors"
	"strings"
	"testing"
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
