/* Gifts: placeholder. */
typedef int lc__show_gifts_placeholder;
