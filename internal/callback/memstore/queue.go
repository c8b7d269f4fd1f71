package memstore

// queue is a FIFO of (state, expiry) backed by a slice; popped items are
// reclaimed when more than half of the slice is dead.
type queue struct {
	items []queueItem
	head  int
}

type queueItem struct {
	state   string
	expires instant
}

func (q *queue) push(state string, expires instant) {
	q.items = append(q.items, queueItem{state: state, expires: expires})
}

func (q *queue) peek() (queueItem, bool) {
	if q.head == len(q.items) {
		return queueItem{}, false
	}
	return q.items[q.head], true
}

func (q *queue) pop() {
	q.items[q.head] = queueItem{} // let the string be collected
	q.head++
	switch {
	case q.head == len(q.items):
		q.items, q.head = q.items[:0], 0
	case q.head > 1024 && q.head*2 > len(q.items):
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
}

// expiryHeap orders items by expiry, for entries whose TTLs differ.
type expiryHeap []queueItem

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].expires < h[j].expires }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(queueItem)) }
func (h *expiryHeap) Pop() any {
	old := *h
	item := old[len(old)-1]
	old[len(old)-1] = queueItem{}
	*h = old[:len(old)-1]
	return item
}
