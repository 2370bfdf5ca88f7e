/* Wallets: placeholder. */
typedef int lc__wallet_placeholder;
