package netsim

// AddPeer records that the layer listening on addr, in another process,
// belongs to node: links and partitions then apply to the connections this
// process dials to it. A node process learns its peers' addresses from
// the controller. The connections peers dial here stay unattributed, so
// shaping delays only what this side sends on its own connections; a
// partition still cuts both ways, since each side refuses and cuts what
// it dialled.
func (nw *Network) AddPeer(addr string, node int) {
	if node < 0 || node >= nw.nodes {
		return
	}
	nw.mu.Lock()
	nw.peers[addr] = node
	nw.mu.Unlock()
}

// AllowOffMachine lets the network's layers dial any address, host names
// included, not only loopback ones: for a node process, whose peers may run
// on other hosts. A cluster in one process never calls it.
func (nw *Network) AllowOffMachine() { nw.offMachine.Store(true) }
