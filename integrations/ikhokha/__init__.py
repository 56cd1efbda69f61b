"""iKhokha's iK Pay API: request signing, the gateway adapter, callbacks."""
