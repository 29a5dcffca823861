package nn

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// ReadConfig reads the JSON file at path and parses it with parse: a
// family's LoadConfig. Its errors name pkg ("vit: ...") and the file, once
// each (parse's own errors may already name either).
func ReadConfig[C any](pkg, path string, parse func(raw []byte) (C, error)) (C, error) {
	var none C
	raw, err := os.ReadFile(path)
	if err != nil {
		return none, fmt.Errorf("%s: %w", pkg, err)
	}
	c, err := parse(raw)
	if err != nil {
		msg := err.Error()
		if !strings.Contains(msg, path) {
			err = fmt.Errorf("%s: %w", path, err)
		}
		if !strings.HasPrefix(msg, pkg+": ") {
			err = fmt.Errorf("%s: %w", pkg, err)
		}
		return none, err
	}
	return c, nil
}

// ReadJSON decodes a JSON file into v (unknown fields are ignored) and checks
// that every required key is present; dotted keys ("vision_config.hidden_size")
// reach into nested objects. Missing keys are all named in one error wrapping
// ErrConfig.
func ReadJSON(path string, v any, required ...string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return DecodeJSON(path, raw, v, required...)
}

// DecodeJSON is ReadJSON on bytes already read; name is used in errors.
func DecodeJSON(name string, raw []byte, v any, required ...string) error {
	var generic map[string]any
	if err := json.Unmarshal(raw, &generic); err != nil {
		return fmt.Errorf("%s: %w: %v", name, ErrConfig, err)
	}
	var missing []string
	for _, key := range required {
		if !hasKey(generic, key) {
			missing = append(missing, key)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s: %w: missing required field(s) %s", name, ErrConfig, strings.Join(missing, ", "))
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%s: %w: %v", name, ErrConfig, err)
	}
	return nil
}

// SetIf sets *dst to *v when the optional field v was given (non-nil): a
// config field decoded into a pointer overrides a default only when the
// JSON has it.
func SetIf[T any](dst, v *T) {
	if v != nil {
		*dst = *v
	}
}

// IntOrList decodes a JSON field that holds one integer or a list of them,
// as transformers' eos_token_id does: an integer gives a list of one, null
// or an absent field (empty raw) gives nil. Anything else is an error
// (which does not wrap ErrConfig: the caller names the field).
func IntOrList(raw json.RawMessage) ([]int, error) {
	s := strings.TrimSpace(string(raw))
	if s == "" || s == "null" {
		return nil, nil
	}
	var one int
	if err := json.Unmarshal(raw, &one); err == nil {
		return []int{one}, nil
	}
	var list []int
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("want an integer or a list of integers, got %s", s)
	}
	return list, nil
}

func hasKey(m map[string]any, dotted string) bool {
	parts := strings.Split(dotted, ".")
	var cur any = m
	for _, p := range parts {
		obj, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		v, ok := obj[p]
		if !ok || v == nil {
			return false
		}
		cur = v
	}
	return true
}

// Architecture returns the first entry of config.json's "architectures"
// and its "model_type", for dispatching to a model package.
func Architecture(configPath string) (arch, modelType string, err error) {
	var c struct {
		Architectures []string `json:"architectures"`
		ModelType     string   `json:"model_type"`
	}
	if err := ReadJSON(configPath, &c); err != nil {
		return "", "", err
	}
	if len(c.Architectures) > 0 {
		arch = c.Architectures[0]
	}
	return arch, c.ModelType, nil
}
