package blip

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/goformer/goformer/generate"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/nn"
)

// TestPublishedConfigs reads the configs of the published checkpoints and
// checks them against their raw JSON.
func TestPublishedConfigs(t *testing.T) {
	dir := testdata.Path(t, "configs")
	for _, name := range []string{"blip-image-captioning-base", "blip-image-captioning-large", "blip-vqa-base"} {
		path := filepath.Join(dir, name, "config.json")
		cfg, err := LoadConfig(path)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var j struct {
			Arch   []string       `json:"architectures"`
			Text   map[string]any `json:"text_config"`
			Vision map[string]any `json:"vision_config"`
		}
		if err := json.Unmarshal(raw, &j); err != nil {
			t.Fatal(err)
		}
		num := func(m map[string]any, k string) int { return int(m[k].(float64)) }
		if cfg.Vision.HiddenSize != num(j.Vision, "hidden_size") || cfg.Vision.NumHiddenLayers != num(j.Vision, "num_hidden_layers") ||
			cfg.Vision.PatchSize != num(j.Vision, "patch_size") || cfg.Text.HiddenSize != num(j.Text, "hidden_size") ||
			cfg.Text.NumAttentionHeads != num(j.Text, "num_attention_heads") || cfg.Text.MaxLength != num(j.Text, "max_length") {
			t.Errorf("%s: %+v does not match the file", name, cfg)
		}
		if cfg.Text.EncoderHiddenSize != cfg.Vision.HiddenSize {
			t.Errorf("%s: encoder_hidden_size %d, want the vision width %d", name, cfg.Text.EncoderHiddenSize, cfg.Vision.HiddenSize)
		}
		if cfg.Text.EarlyStopping != generate.EarlyStoppingHeuristic || cfg.Text.NumBeams != 1 {
			t.Errorf("%s: generation defaults %v, %d beams", name, cfg.Text.EarlyStopping, cfg.Text.NumBeams)
		}
		if len(j.Arch) == 0 || cfg.Architectures[0] != j.Arch[0] {
			t.Errorf("%s: architectures %v", name, cfg.Architectures)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) string {
		p := filepath.Join(dir, "config.json")
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, s := range []string{
		`{"text_config": {"hidden_size": 30, "num_attention_heads": 4}}`,
		`{"vision_config": {"image_size": 100, "patch_size": 16}}`,
		`{"text_config": {"num_hidden_layers": 0}}`,
		`{"text_config": {"sep_token_id": 40000}}`,
		`{"text_config": {"early_stopping": "sometimes"}}`,
		`{"text_config": [1, 2]}`,
		`not json`,
	} {
		if _, err := LoadConfig(write(s)); !errors.Is(err, nn.ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", s, err)
		}
	}
	for s, want := range map[string]generate.EarlyStopping{
		`{"text_config": {"early_stopping": true}}`:    generate.EarlyStoppingFirst,
		`{"text_config": {"early_stopping": "never"}}`: generate.EarlyStoppingNever,
		`{"text_config": {"early_stopping": null}}`:    generate.EarlyStoppingHeuristic,
		`{}`: generate.EarlyStoppingHeuristic,
	} {
		cfg, err := LoadConfig(write(s))
		if err != nil || cfg.Text.EarlyStopping != want {
			t.Errorf("%s: %v %v, want %v", s, cfg.Text.EarlyStopping, err, want)
		}
		b, _ := json.Marshal(cfg.Text.EarlyStopping)
		var back generate.EarlyStopping
		if err := json.Unmarshal(b, &back); err != nil || back != want {
			t.Errorf("%s: round trip through %s gives %v", s, b, back)
		}
	}
}
