/* breakerctl.c - placeholder until the tool lands. */
int main(void);
int
main(void)
{
	return 0;
}
