package clip

import (
	"fmt"
	"math"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
)

// loadOpenAI loads a checkpoint file in OpenAI's layout.
func loadOpenAI(file string, opt loadOptions) (*Model, error) {
	raw, ints, err := readCheckpointFile(file)
	if err != nil {
		return nil, err
	}
	oo := OpenAIOptions{TextHeads: opt.TextHeads, VisionHeads: opt.VisionHeads}
	// A TorchScript module records its head counts; OpenAI's build_model
	// would assume width/64, which the released models satisfy.
	if oo.TextHeads == 0 {
		oo.TextHeads = ints["transformer.resblocks.0.attn.num_heads"]
	}
	if oo.VisionHeads == 0 {
		oo.VisionHeads = ints["visual.transformer.resblocks.0.attn.num_heads"]
	}
	store, cfg, err := FromOpenAI(file, raw, oo)
	if err != nil {
		return nil, err
	}
	return own(store, cfg, filepath.Dir(file), opt)
}

// readCheckpointFile reads every tensor of a checkpoint file as float32: a
// PyTorch zip (TorchScript or state dict), a legacy PyTorch pickle or a
// safetensors file. The integer attributes of a TorchScript module (such
// as "transformer.resblocks.0.attn.num_heads") come back in ints.
func readCheckpointFile(file string) (map[string]*tensor.Tensor, map[string]int, error) {
	var s *checkpoint.Store
	var extra map[string]any
	var err error
	mapped := strings.HasSuffix(file, ".safetensors")
	if mapped {
		s, err = checkpoint.LoadSafetensors(file)
	} else {
		s, extra, err = checkpoint.OpenPyTorch(file)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("clip: %w", err)
	}
	defer s.Close()
	out := map[string]*tensor.Tensor{}
	for _, n := range s.Names() {
		t, _ := s.Get(n)
		if mapped {
			t = t.Clone() // detach from the mapping, closed on return
		}
		out[n] = t
	}
	ints := map[string]int{}
	for k, v := range extra {
		if n, ok := v.(int); ok {
			ints[k] = n
		}
	}
	return out, ints, nil
}

var (
	reVisualBlock = regexp.MustCompile(`^visual\.transformer\.resblocks\.(\d+)\.(.+)$`)
	reTextBlock   = regexp.MustCompile(`^transformer\.resblocks\.(\d+)\.(.+)$`)
)

// openAIBlockNames maps a residual block's parameter names (after the
// block prefix) to the Hub's; attn.in_proj_* are split separately.
var openAIBlockNames = map[string]string{
	"attn.out_proj.weight": "self_attn.out_proj.weight",
	"attn.out_proj.bias":   "self_attn.out_proj.bias",
	"ln_1.weight":          "layer_norm1.weight",
	"ln_1.bias":            "layer_norm1.bias",
	"ln_2.weight":          "layer_norm2.weight",
	"ln_2.bias":            "layer_norm2.bias",
	"mlp.c_fc.weight":      "mlp.fc1.weight",
	"mlp.c_fc.bias":        "mlp.fc1.bias",
	"mlp.c_proj.weight":    "mlp.fc2.weight",
	"mlp.c_proj.bias":      "mlp.fc2.bias",
}

var openAINames = map[string]string{
	"visual.conv1.weight":         "vision_model.embeddings.patch_embedding.weight",
	"visual.class_embedding":      "vision_model.embeddings.class_embedding",
	"visual.positional_embedding": "vision_model.embeddings.position_embedding.weight",
	"visual.ln_pre.weight":        "vision_model.pre_layrnorm.weight",
	"visual.ln_pre.bias":          "vision_model.pre_layrnorm.bias",
	"visual.ln_post.weight":       "vision_model.post_layernorm.weight",
	"visual.ln_post.bias":         "vision_model.post_layernorm.bias",
	"token_embedding.weight":      "text_model.embeddings.token_embedding.weight",
	"positional_embedding":        "text_model.embeddings.position_embedding.weight",
	"ln_final.weight":             "text_model.final_layer_norm.weight",
	"ln_final.bias":               "text_model.final_layer_norm.bias",
	"logit_scale":                 "logit_scale",
}

// OpenAIOptions adjusts how FromOpenAI infers the configuration.
type OpenAIOptions struct {
	// TextHeads and VisionHeads set the attention head counts of the text
	// and vision transformers. 0 infers width/64, as OpenAI's build_model
	// does (right for OpenAI's released models; other trainers' checkpoints
	// in OpenAI's layout may need them set).
	TextHeads, VisionHeads int
}

// openAIIgnored are entries of OpenAI state dicts that are not weights
// (build_model deletes them too).
var openAIIgnored = map[string]bool{"input_resolution": true, "context_length": true, "vocab_size": true}

// FromOpenAI maps a state dict with OpenAI CLIP's names (visual.conv1.weight,
// visual.transformer.resblocks.N.attn.in_proj_weight, token_embedding.weight,
// ln_final.weight, text_projection, visual.proj, logit_scale, …) onto the
// Hub layout and infers the configuration from the tensor shapes as
// OpenAI's build_model does (heads = width/64, quick_gelu, eps 1e-5).
// Fused in_proj weights are split into q/k/v; the [width, embed]
// projections are transposed. A "module." or "state_dict." prefix is
// stripped. source names the checkpoint in errors. Every tensor must be
// used: an unknown name is an error (ResNet checkpoints are refused).
func FromOpenAI(source string, sd map[string]*tensor.Tensor, opt OpenAIOptions) (*checkpoint.Store, Config, error) {
	sd = stripPrefixes(sd)
	fail := func(format string, args ...any) (*checkpoint.Store, Config, error) {
		return nil, Config{}, fmt.Errorf("clip: %s: %w: %s", source, checkpoint.ErrMissingWeights, fmt.Sprintf(format, args...))
	}
	if _, ok := sd["visual.layer1.0.conv1.weight"]; ok {
		return nil, Config{}, fmt.Errorf("clip: %s: %w: OpenAI ResNet CLIP checkpoints are not supported (vision transformer models only)", source, nn.ErrUnsupportedArchitecture)
	}
	get := func(name string, rank int) (*tensor.Tensor, error) {
		t, ok := sd[name]
		if !ok {
			return nil, fmt.Errorf("missing %s", name)
		}
		if t.Rank() != rank {
			return nil, fmt.Errorf("%s has shape %v, want rank %d", name, t.Shape(), rank)
		}
		return t, nil
	}
	var missing []string
	need := func(name string, rank int) *tensor.Tensor {
		t, err := get(name, rank)
		if err != nil {
			missing = append(missing, err.Error())
			return nil
		}
		return t
	}
	conv := need("visual.conv1.weight", 4)
	vpos := need("visual.positional_embedding", 2)
	vproj := need("visual.proj", 2)
	tproj := need("text_projection", 2)
	tokEmb := need("token_embedding.weight", 2)
	tpos := need("positional_embedding", 2)
	lnFinal := need("ln_final.weight", 1)
	if len(missing) > 0 {
		if _, hub := sd["vision_model.embeddings.patch_embedding.weight"]; hub {
			return nil, Config{}, fmt.Errorf("clip: %s: %w: this is a Hub-layout state dict; load its model directory (with config.json) instead", source, nn.ErrUnsupportedArchitecture)
		}
		return fail("not an OpenAI CLIP checkpoint: %s", strings.Join(missing, "; "))
	}
	countLayers := func(re *regexp.Regexp) (int, error) {
		seen := map[int]bool{}
		for name := range sd {
			if m := re.FindStringSubmatch(name); m != nil {
				i, err := strconv.Atoi(m[1])
				if err != nil || i > 1<<16 {
					return 0, fmt.Errorf("bad block index in %s", name)
				}
				seen[i] = true
			}
		}
		for i := range len(seen) {
			if !seen[i] {
				return 0, fmt.Errorf("block %d missing", i)
			}
		}
		return len(seen), nil
	}
	vLayers, err := countLayers(reVisualBlock)
	if err != nil {
		return fail("visual.transformer: %v", err)
	}
	tLayers, err := countLayers(reTextBlock)
	if err != nil {
		return fail("transformer: %v", err)
	}
	vWidth, patch := conv.Dim(0), conv.Dim(3)
	grid := int(math.Round(math.Sqrt(float64(vpos.Dim(0) - 1))))
	tWidth := lnFinal.Dim(0)
	if vproj.Dim(0) != vWidth || tproj.Dim(0) != tWidth || vproj.Dim(1) != tproj.Dim(1) {
		return fail("visual.proj %v and text_projection %v do not match the widths %d (vision) and %d (text)", vproj.Shape(), tproj.Shape(), vWidth, tWidth)
	}
	if (grid*grid+1) != vpos.Dim(0) || vpos.Dim(1) != vWidth {
		return fail("visual.positional_embedding has shape %v, want [grid²+1, %d]", vpos.Shape(), vWidth)
	}
	inter := func(prefix string, width int) int {
		if t, ok := sd[prefix+".resblocks.0.mlp.c_fc.weight"]; ok && t.Rank() == 2 {
			return t.Dim(0)
		}
		return 4 * width
	}
	cfg := DefaultConfig()
	cfg.ProjectionDim = tproj.Dim(1)
	cfg.Text = TextConfig{
		VocabSize: tokEmb.Dim(0), HiddenSize: tWidth, IntermediateSize: inter("transformer", tWidth),
		NumHiddenLayers: tLayers, NumAttentionHeads: heads(opt.TextHeads, tWidth), MaxPositionEmbeddings: tpos.Dim(0),
		HiddenAct: "quick_gelu", LayerNormEps: 1e-5,
		// OpenAI's <|startoftext|> and <|endoftext|> are the last two ids;
		// the text is pooled at the highest id (argmax), which is the end.
		BosTokenID: tokEmb.Dim(0) - 2, EosTokenID: tokEmb.Dim(0) - 1, PadTokenID: 0,
	}
	cfg.Vision = VisionConfig{
		HiddenSize: vWidth, IntermediateSize: inter("visual.transformer", vWidth),
		NumHiddenLayers: vLayers, NumAttentionHeads: heads(opt.VisionHeads, vWidth), NumChannels: conv.Dim(1),
		ImageSize: patch * grid, PatchSize: patch, HiddenAct: "quick_gelu", LayerNormEps: 1e-5,
	}
	if err := cfg.Validate(); err != nil {
		return nil, Config{}, fmt.Errorf("clip: %s: inferred config: %w", source, err)
	}

	out := map[string]*tensor.Tensor{}
	var unknown []string
	for name, t := range sd {
		if openAIIgnored[name] || strings.HasSuffix(name, ".attn_mask") {
			// attn_mask: the causal mask OpenAI's text blocks hold as a
			// tensor attribute (part of a scripted module, not a weight).
			continue
		}
		if hub, ok := openAINames[name]; ok {
			out[hub] = t
			continue
		}
		switch name {
		case "visual.proj":
			out["visual_projection.weight"] = t.Transpose(0, 1).Contiguous()
			continue
		case "text_projection":
			out["text_projection.weight"] = t.Transpose(0, 1).Contiguous()
			continue
		}
		var prefix, rest string
		var width int
		if m := reVisualBlock.FindStringSubmatch(name); m != nil {
			prefix, rest, width = "vision_model.encoder.layers."+m[1]+".", m[2], vWidth
		} else if m := reTextBlock.FindStringSubmatch(name); m != nil {
			prefix, rest, width = "text_model.encoder.layers."+m[1]+".", m[2], tWidth
		} else {
			unknown = append(unknown, name)
			continue
		}
		if hub, ok := openAIBlockNames[rest]; ok {
			out[prefix+hub] = t
			continue
		}
		switch rest {
		case "attn.in_proj_weight", "attn.in_proj_bias":
			suffix, want := "weight", []int{3 * width, width}
			if rest == "attn.in_proj_bias" {
				suffix, want = "bias", []int{3 * width}
			}
			if !equalInts(t.Shape(), want) {
				return fail("%s has shape %v, want %v", name, t.Shape(), want)
			}
			for i, p := range []string{"q_proj", "k_proj", "v_proj"} {
				out[prefix+"self_attn."+p+"."+suffix] = t.Slice(0, i*width, (i+1)*width).Contiguous()
			}
		default:
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fail("%d unexpected tensors: %s", len(unknown), strings.Join(unknown, ", "))
	}
	return checkpoint.NewStore(source, out), cfg, nil
}

// stripPrefixes removes a "state_dict." and/or "module." prefix shared by
// every name (checkpoints saved from a wrapper or a DataParallel model).
func stripPrefixes(sd map[string]*tensor.Tensor) map[string]*tensor.Tensor {
	for _, p := range []string{"state_dict.", "model.", "module."} {
		all := len(sd) > 0
		for k := range sd {
			if !strings.HasPrefix(k, p) {
				all = false
				break
			}
		}
		if all {
			next := make(map[string]*tensor.Tensor, len(sd))
			for k, v := range sd {
				next[strings.TrimPrefix(k, p)] = v
			}
			sd = next
		}
	}
	return sd
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func heads(given, width int) int {
	if given > 0 {
		return given
	}
	return max(width/64, 1)
}
