#include "commerce/promo.h"
int main(void) { char *e = NULL; lc_promo *p = lc_promo_from_json(NULL, &e); g_free(e); return p != NULL; }
