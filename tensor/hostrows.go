package tensor

// HostRows downloads logits x [B, V] for a search on the host (ToHost: x
// itself on the host; a device tensor is released once copied) and
// returns the host tensor and its B rows, appended to rows[:0] so that a
// decoding loop reuses one slice from step to step. Each row's capacity
// ends with it.
func HostRows(x *Tensor, rows [][]float32) (*Tensor, [][]float32, error) {
	h, err := ToHost(x)
	if h != x {
		Release(x)
	}
	if err != nil {
		return nil, rows, err
	}
	v := h.Dim(1)
	d := h.Data()
	rows = rows[:0]
	for i := 0; i < h.Dim(0); i++ {
		rows = append(rows, d[i*v:(i+1)*v:(i+1)*v])
	}
	return h, rows, nil
}
