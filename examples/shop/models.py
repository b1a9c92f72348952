"""Models of the example shop: two independent tables (relations come later)."""
from __future__ import annotations

import dorm
from dorm.validators import MinLengthValidator, MinValueValidator


class Product(dorm.Model):
    name = dorm.CharField(max_length=100, unique=True, validators=[MinLengthValidator(2)])
    category = dorm.CharField(max_length=50, db_index=True)
    price = dorm.DecimalField(max_digits=10, decimal_places=2,
                              validators=[MinValueValidator(0)])
    stock = dorm.IntegerField(default=0, validators=[MinValueValidator(0)])
    active = dorm.BooleanField(default=True)
    created_at = dorm.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return f"{self.name} ({self.price})"


class Customer(dorm.Model):
    email = dorm.EmailField(unique=True)
    name = dorm.CharField(max_length=100)
    vip = dorm.BooleanField(default=False)

    def __str__(self) -> str:
        return self.name
