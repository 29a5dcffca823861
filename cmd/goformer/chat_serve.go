package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/goformer/goformer"
)

// chatRequest is OpenAI's chat-completions request. Fields that would
// change what is generated and that goformer does not do (several choices,
// stop sequences, tools, structured output, log-probabilities) are refused
// rather than ignored; the others (user, frequency_penalty 0, ...) are
// ignored.
type chatRequest struct {
	Model               string          `json:"model"`
	Messages            []chatMessage   `json:"messages"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Temperature         *float64        `json:"temperature"`
	TopP                *float64        `json:"top_p"`
	TopK                *int            `json:"top_k"` // an extension (vLLM's)
	Seed                *int64          `json:"seed"`
	Stream              bool            `json:"stream"`
	StreamOptions       *streamOptions  `json:"stream_options"`
	N                   *int            `json:"n"`
	Stop                json.RawMessage `json:"stop"`
	Tools               json.RawMessage `json:"tools"`
	Functions           json.RawMessage `json:"functions"`
	ResponseFormat      json.RawMessage `json:"response_format"`
	Logprobs            *bool           `json:"logprobs"`
	FrequencyPenalty    *float64        `json:"frequency_penalty"`
	PresencePenalty     *float64        `json:"presence_penalty"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// chatMessage is one message: content is a string or a list of parts.
type chatMessage struct {
	Role      string          `json:"role"`
	Content   json.RawMessage `json:"content"`
	ToolCalls json.RawMessage `json:"tool_calls"`
}

// contentPart is one part of a message's content.
type contentPart struct {
	Type     string          `json:"type"`
	Text     *string         `json:"text"`
	ImageURL json.RawMessage `json:"image_url"`
}

// chatUsage is OpenAI's usage object.
type chatUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// chatCompletion is OpenAI's chat.completion object.
type chatCompletion struct {
	ID      string       `json:"id"`
	Object  string       `json:"object"`
	Created int64        `json:"created"`
	Model   string       `json:"model"`
	Choices []chatChoice `json:"choices"`
	Usage   chatUsage    `json:"usage"`
}

type chatChoice struct {
	Index        int             `json:"index"`
	Message      chatReply       `json:"message"`
	Logprobs     json.RawMessage `json:"logprobs"`
	FinishReason string          `json:"finish_reason"`
}

type chatReply struct {
	Role    string  `json:"role"`
	Content string  `json:"content"`
	Refusal *string `json:"refusal"`
}

// chatChunk is OpenAI's chat.completion.chunk object (one server-sent
// event of a streamed completion).
type chatChunk struct {
	ID      string        `json:"id"`
	Object  string        `json:"object"`
	Created int64         `json:"created"`
	Model   string        `json:"model"`
	Choices []chunkChoice `json:"choices"`
	// Usage is set on the last chunk when stream_options.include_usage
	// asks for it (null on the others, as OpenAI sends them).
	Usage *chatUsage `json:"usage,omitempty"`
}

type chunkChoice struct {
	Index        int             `json:"index"`
	Delta        chunkDelta      `json:"delta"`
	Logprobs     json.RawMessage `json:"logprobs"`
	FinishReason *string         `json:"finish_reason"`
}

type chunkDelta struct {
	Role    string  `json:"role,omitempty"`
	Content *string `json:"content,omitempty"`
}

var jsonNull = json.RawMessage("null")

// set reports whether an optional JSON field holds something other than
// null, false, an empty string or an empty list.
func set(raw json.RawMessage) bool {
	switch s := string(bytes.TrimSpace(raw)); s {
	case "", "null", "false", `""`, "[]", "{}":
		return false
	}
	return true
}

// chatParams checks a request's generation settings against the API's and
// the server's limits.
func (s *server) chatParams(req *chatRequest) (goformer.ChatOptions, error) {
	var opt goformer.ChatOptions
	switch {
	case req.N != nil && *req.N != 1:
		return opt, badRequest("n", "n %d: this server writes one choice", *req.N)
	case set(req.Stop):
		return opt, badRequest("stop", "stop sequences are not supported: the answer ends at the model's end token or max_tokens")
	case set(req.Tools) || set(req.Functions):
		return opt, badRequest("tools", "tools and function calling are not supported")
	case req.Logprobs != nil && *req.Logprobs:
		return opt, badRequest("logprobs", "logprobs are not supported")
	case req.FrequencyPenalty != nil && *req.FrequencyPenalty != 0:
		return opt, badRequest("frequency_penalty", "frequency_penalty is not supported")
	case req.PresencePenalty != nil && *req.PresencePenalty != 0:
		return opt, badRequest("presence_penalty", "presence_penalty is not supported")
	}
	if set(req.ResponseFormat) {
		var rf struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(req.ResponseFormat, &rf) != nil || rf.Type != "text" {
			return opt, badRequest("response_format", "response_format %s: only text is supported", req.ResponseFormat)
		}
	}
	limit, param := req.MaxCompletionTokens, "max_completion_tokens"
	if limit == nil {
		limit, param = req.MaxTokens, "max_tokens"
	}
	opt.MaxNewTokens = s.cfg.MaxNewTokens
	if limit != nil {
		if *limit < 1 || *limit > s.cfg.MaxNewTokens {
			return opt, badRequest(param, "%s %d: this server takes 1 to %d", param, *limit, s.cfg.MaxNewTokens)
		}
		opt.MaxNewTokens = *limit
	}
	if t := req.Temperature; t != nil {
		if math.IsNaN(*t) || *t < 0 || *t > 2 {
			return opt, badRequest("temperature", "temperature %g: want a value from 0 to 2", *t)
		}
		opt.Temperature = *t
	}
	if p := req.TopP; p != nil {
		if math.IsNaN(*p) || *p < 0 || *p > 1 {
			return opt, badRequest("top_p", "top_p %g: want a value from 0 to 1", *p)
		}
		opt.TopP = *p
	}
	if k := req.TopK; k != nil {
		if *k < 0 {
			return opt, badRequest("top_k", "top_k %d: want 0 (all) or more", *k)
		}
		opt.TopK = *k
	}
	if req.Seed != nil {
		opt.Seed = uint64(*req.Seed)
	}
	return opt, nil
}

// chatMessages turns the request's messages into the front door's: string
// content or text and image_url parts (images as data: URLs only).
func chatMessages(req *chatRequest) ([]goformer.Message, error) {
	if len(req.Messages) == 0 {
		return nil, badRequest("messages", "no messages")
	}
	out := make([]goformer.Message, 0, len(req.Messages))
	for i, cm := range req.Messages {
		param := fmt.Sprintf("messages[%d]", i)
		m := goformer.Message{}
		switch cm.Role {
		case "system", "developer":
			m.Role = goformer.RoleSystem
		case "user":
			m.Role = goformer.RoleUser
		case "assistant":
			m.Role = goformer.RoleAssistant
			if set(cm.ToolCalls) {
				return nil, badRequest(param+".tool_calls", "%s: tool calls are not supported", param)
			}
		case "":
			return nil, badRequest(param+".role", "%s has no role", param)
		default:
			return nil, badRequest(param+".role", "%s: role %q is not supported (want system, developer, user or assistant)", param, cm.Role)
		}
		content := bytes.TrimSpace(cm.Content)
		switch {
		case len(content) == 0 || string(content) == "null":
			return nil, badRequest(param+".content", "%s has no content", param)
		case content[0] == '"':
			if err := json.Unmarshal(content, &m.Text); err != nil {
				return nil, badRequest(param+".content", "%s: content: %v", param, err)
			}
		case content[0] == '[':
			var parts []contentPart
			if err := json.Unmarshal(content, &parts); err != nil {
				return nil, badRequest(param+".content", "%s: content must be a string or a list of parts: %v", param, err)
			}
			var texts []string
			for j, p := range parts {
				pp := fmt.Sprintf("%s.content[%d]", param, j)
				switch p.Type {
				case "text":
					if p.Text == nil {
						return nil, badRequest(pp+".text", "%s: a text part needs text", pp)
					}
					texts = append(texts, *p.Text)
				case "image_url":
					if m.Role != goformer.RoleUser {
						return nil, badRequest(pp, "%s: only user messages may hold images", pp)
					}
					img, err := chatImage(pp+".image_url", p.ImageURL)
					if err != nil {
						return nil, err
					}
					m.Images = append(m.Images, img)
				default:
					return nil, badRequest(pp+".type", "%s: content parts of type %q are not supported (want text or image_url)", pp, p.Type)
				}
			}
			// The chat template writes each text part followed by a space.
			m.Text = strings.Join(texts, " ")
		default:
			return nil, badRequest(param+".content", "%s: content must be a string or a list of parts", param)
		}
		out = append(out, m)
	}
	return out, nil
}

// chatImage decodes an image_url part: {"url": "data:image/...;base64,..."}
// (a bare string is taken too). The server fetches nothing: other URLs are
// refused.
func chatImage(param string, raw json.RawMessage) (image.Image, error) {
	var u struct {
		URL string `json:"url"`
	}
	if err := json.Unmarshal(raw, &u); err != nil {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil, badRequest(param, `%s must be {"url": "data:image/...;base64,..."}`, param)
		}
		u.URL = s
	}
	switch {
	case u.URL == "":
		return nil, badRequest(param, "%s has no url", param)
	case !strings.HasPrefix(u.URL, "data:"):
		scheme := u.URL
		if i := strings.Index(scheme, ":"); i > 0 && i < 16 {
			scheme = scheme[:i]
		} else if len(scheme) > 16 {
			scheme = scheme[:16] + "…"
		}
		return nil, badRequest(param, "%s: only data: URLs are taken (data:image/png;base64,...), not %s: the server fetches nothing", param, scheme)
	}
	return decodeImageField(param, u.URL)
}

// completionID is a fresh "chatcmpl-…" id.
func completionID() string {
	var b [12]byte
	rand.Read(b[:])
	return "chatcmpl-" + hex.EncodeToString(b[:])
}

// chatCompletions handles POST /v1/chat/completions.
func (s *server) chatCompletions(w http.ResponseWriter, r *http.Request) error {
	var req chatRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	opt, err := s.chatParams(&req)
	if err != nil {
		return err
	}
	m, err := s.pick(r, goformer.TaskChat, req.Model)
	if err != nil {
		return err
	}
	msgs, err := chatMessages(&req)
	if err != nil {
		return err
	}
	release, err := s.acquire(r.Context())
	if err != nil {
		return err
	}
	defer release()
	id, created := completionID(), time.Now().Unix()
	if !req.Stream {
		res, err := m.chat(r.Context(), msgs, opt)
		if err != nil {
			return err
		}
		writeJSONResponse(w, http.StatusOK, chatCompletion{
			ID: id, Object: "chat.completion", Created: created, Model: m.Name,
			Choices: []chatChoice{{Message: chatReply{Role: "assistant", Content: res.Text}, Logprobs: jsonNull, FinishReason: res.FinishReason}},
			Usage:   usageOf(res),
		})
		return nil
	}
	return s.streamChat(w, r, m, msgs, opt, &req, id, created)
}

func usageOf(res *goformer.ChatResult) chatUsage {
	return chatUsage{PromptTokens: res.PromptTokens, CompletionTokens: len(res.IDs), TotalTokens: res.PromptTokens + len(res.IDs)}
}

// streamChat answers with server-sent events: a chunk with the role, one
// per piece of text as it is generated, one with the finish reason (and
// one with the usage when asked), then [DONE]. Errors before the first
// piece are returned, for an ordinary error response; later ones are an
// error event. A client that goes away stops the generation.
func (s *server) streamChat(w http.ResponseWriter, r *http.Request, m *model, msgs []goformer.Message, opt goformer.ChatOptions,
	req *chatRequest, id string, created int64) error {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	rc := http.NewResponseController(w)
	includeUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	started := false
	var writeErr error
	send := func(v any) {
		if writeErr != nil {
			return
		}
		data, err := json.Marshal(v)
		if err == nil {
			_, err = fmt.Fprintf(w, "data: %s\n\n", data)
		}
		if err == nil {
			err = rc.Flush()
		}
		if err != nil {
			// The client is gone: stop generating.
			writeErr = err
			cancel()
		}
	}
	chunk := func(d chunkDelta, finish *string) chatChunk {
		return chatChunk{ID: id, Object: "chat.completion.chunk", Created: created, Model: m.Name,
			Choices: []chunkChoice{{Delta: d, Logprobs: jsonNull, FinishReason: finish}}}
	}
	start := func() {
		if started {
			return
		}
		started = true
		h := w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Accel-Buffering", "no")
		w.WriteHeader(http.StatusOK)
		empty := ""
		send(chunk(chunkDelta{Role: "assistant", Content: &empty}, nil))
	}
	opt.OnToken = func(piece string) {
		start()
		send(chunk(chunkDelta{Content: &piece}, nil))
	}
	res, err := m.chat(ctx, msgs, opt)
	if err != nil {
		if !started {
			return err
		}
		if writeErr != nil {
			err = fmt.Errorf("client gone: %w", writeErr)
		}
		info(r).err = err
		ae := toAPIError(r, err)
		send(map[string]any{"error": map[string]any{"message": ae.msg, "type": ae.typ, "param": nil, "code": nil}})
		return nil
	}
	start()
	finish := res.FinishReason
	send(chunk(chunkDelta{}, &finish))
	if includeUsage {
		u := usageOf(res)
		send(chatChunk{ID: id, Object: "chat.completion.chunk", Created: created, Model: m.Name, Choices: []chunkChoice{}, Usage: &u})
	}
	if writeErr == nil {
		fmt.Fprint(w, "data: [DONE]\n\n")
		rc.Flush()
	} else {
		info(r).err = fmt.Errorf("client gone: %w", writeErr)
	}
	return nil
}
